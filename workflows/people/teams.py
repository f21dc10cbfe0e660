"""Teams: a name, members, how a conversation given to the team picks its agent, how a call
to the team rings its agents (``ring_strategy``) and how long they wrap up after a call, and
the business-hours schedule the team works by (a named schedule, :mod:`workflows.schedules`).

Plain functions of a SQLAlchemy ``Connection``; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, delete, select, update

from ringflow.database import stored_time
from workflows.people.db import agents, team_members, teams
from workflows.people.errors import UnknownAgent, UnknownTeam
from workflows.people.routing import RingStrategy

Strategy = Literal["round_robin", "least_busy"]


@dataclass(frozen=True, slots=True)
class TeamFields:
    """What an admin sets on a team."""

    strategy: Strategy = "round_robin"
    schedule: str | None = None
    members: Sequence[str] = ()
    """Agent names."""
    ring_strategy: RingStrategy = "ring_all"
    """How a call to the team rings its agents (:mod:`workflows.people.routing`)."""
    wrap_up: int = 0
    """Seconds an agent stays busy after a call through the team ends."""


@dataclass(frozen=True, slots=True)
class Team:
    """A team as stored; ``fields.members`` by name, sorted."""

    id: int
    name: str
    fields: TeamFields
    created_at: datetime
    updated_at: datetime


def _members(conn: Connection, team_id: int) -> tuple[str, ...]:
    rows = conn.execute(
        select(agents.c.name)
        .join(team_members, team_members.c.agent_id == agents.c.id)
        .where(team_members.c.team_id == team_id)
        .order_by(agents.c.name)
    ).scalars()
    return tuple(rows)


def _team(conn: Connection, row: Row[Any]) -> Team:
    return Team(
        id=row.id,
        name=row.name,
        fields=TeamFields(
            row.strategy, row.schedule, _members(conn, row.id), row.ring_strategy, row.wrap_up
        ),
        created_at=stored_time(row.created_at),
        updated_at=stored_time(row.updated_at),
    )


def find_team(conn: Connection, name: str) -> Team | None:
    """The team called ``name``, or None."""
    row = conn.execute(select(teams).where(teams.c.name == name)).first()
    return None if row is None else _team(conn, row)


def team_by_id(conn: Connection, team_id: int) -> Team | None:
    """The team ``team_id``, or None."""
    row = conn.execute(select(teams).where(teams.c.id == team_id)).first()
    return None if row is None else _team(conn, row)


def require_team(conn: Connection, name: str) -> Team:
    """The team called ``name``; :class:`UnknownTeam` when there is none."""
    team = find_team(conn, name)
    if team is None:
        raise UnknownTeam(name)
    return team


def list_teams(conn: Connection) -> list[Team]:
    """Every team, by name."""
    rows = conn.execute(select(teams).order_by(teams.c.name)).all()
    return [_team(conn, row) for row in rows]


def put_team(conn: Connection, name: str, fields: TeamFields, now: datetime) -> tuple[Team, bool]:
    """Create the team ``name`` or replace its fields and members; the team and whether it is
    new. :class:`UnknownAgent` names the first member that is not an agent (nothing is
    written then, as the caller's transaction rolls back)."""
    wanted = sorted(set(fields.members))
    ids = dict(
        conn.execute(select(agents.c.name, agents.c.id).where(agents.c.name.in_(wanted))).all()
    )
    for member in wanted:
        if member not in ids:
            raise UnknownAgent(member)
    values = {
        "strategy": fields.strategy,
        "schedule": fields.schedule,
        "ring_strategy": fields.ring_strategy,
        "wrap_up": fields.wrap_up,
        "updated_at": now,
    }
    team_id = conn.execute(select(teams.c.id).where(teams.c.name == name)).scalar()
    created = team_id is None
    if team_id is None:
        team_id = conn.execute(
            teams.insert().values(name=name, created_at=now, **values).returning(teams.c.id)
        ).scalar_one()
    else:
        conn.execute(update(teams).where(teams.c.id == team_id).values(**values))
    current = set(
        conn.execute(
            select(team_members.c.agent_id).where(team_members.c.team_id == team_id)
        ).scalars()
    )
    keep = {ids[member] for member in wanted}
    if current - keep:
        conn.execute(
            delete(team_members).where(
                team_members.c.team_id == team_id, team_members.c.agent_id.in_(current - keep)
            )
        )
    for agent_id in sorted(keep - current):
        conn.execute(team_members.insert().values(team_id=team_id, agent_id=agent_id))
    return require_team(conn, name), created


def delete_team(conn: Connection, name: str) -> int:
    """Delete the team ``name`` (its conversations keep their agent, lose the team); its id."""
    team = require_team(conn, name)
    conn.execute(delete(team_members).where(team_members.c.team_id == team.id))
    conn.execute(delete(teams).where(teams.c.id == team.id))
    return team.id
