"""What can go wrong with the knowledge base.

KnowledgeError
 ├── UnknownEntry       no FAQ entry has this id
 ├── UnknownDocument    no document has this id
 └── EmptyDocument      an uploaded document has no text to search
"""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base of the errors of :mod:`workflows.knowledge`."""


class UnknownEntry(KnowledgeError, LookupError):
    """No FAQ entry has this id."""


class UnknownDocument(KnowledgeError, LookupError):
    """No document has this id."""


class EmptyDocument(KnowledgeError, ValueError):
    """The document has no text a search could find."""
