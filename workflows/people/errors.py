"""What can go wrong with agents and teams.

PeopleError
 ├── UnknownAgent      no agent has this name (or id)
 ├── UnknownTeam       no team has this name (or id)
 └── NameTaken         a create met an existing agent or team of that name
"""

from __future__ import annotations


class PeopleError(Exception):
    """Base of the errors of :mod:`workflows.people`."""


class UnknownAgent(PeopleError, LookupError):
    """No agent has this name (or id)."""


class UnknownTeam(PeopleError, LookupError):
    """No team has this name (or id)."""


class NameTaken(PeopleError, ValueError):
    """An agent or a team of that name exists already."""
