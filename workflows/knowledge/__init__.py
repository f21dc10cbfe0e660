"""The knowledge base: FAQ entries and documents the ``answer`` step finds answers in.

- :mod:`~workflows.knowledge.db`: the tables (entries, documents, passages);
- :mod:`~workflows.knowledge.grams`: text into search grams (bigrams for Korean, Japanese and
  Chinese, trigrams for other words), the same on both databases;
- :mod:`~workflows.knowledge.split`: Markdown or text into passages;
- :mod:`~workflows.knowledge.store`: add, replace, list, delete (indexed in the same
  transaction);
- :mod:`~workflows.knowledge.search`: candidates from the database's full-text index, scored
  from 0 to 1 the same way on SQLite and PostgreSQL.

:class:`Knowledge` is what a running step reads (``RunContext.knowledge``): a search over the
connection of the turn's transaction, given by the session layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from workflows.knowledge.search import Hit
from workflows.knowledge.search import search as _search

__all__ = ["Hit", "Knowledge", "KnowledgeBase"]


class KnowledgeBase(Protocol):
    """What a step may ask the knowledge base."""

    def search(self, question: str, *, language: str | None = None, limit: int = 5) -> list[Hit]:
        """The best answers to ``question`` in ``language`` (None: any), best first."""
        ...


@dataclass(frozen=True, slots=True)
class Knowledge:
    """The knowledge base as a step sees it, read through ``conn``."""

    conn: Connection

    def search(self, question: str, *, language: str | None = None, limit: int = 5) -> list[Hit]:
        """The best answers to ``question``, best first (see :mod:`workflows.knowledge.search`)."""
        return _search(self.conn, question, language=language, limit=limit)
