"""FAQ entries and documents: add, replace, list, read, delete; each kept searchable.

Plain functions of a SQLAlchemy ``Connection``; the caller owns the transaction. Every change
to a passage changes its full-text index row in the same transaction (SQLite's FTS5 table;
PostgreSQL's GIN index follows the column by itself), so a search never sees one without the
other.

Languages are stored as their primary subtag, lower case (``ko-KR`` -> ``ko``): a search in
``ko`` finds entries in ``ko`` and entries for any language (no language).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, text, update

from ringflow.database import stored_time
from workflows.knowledge.db import (
    knowledge_documents,
    knowledge_entries,
    knowledge_passages,
)
from workflows.knowledge.errors import EmptyDocument, UnknownDocument, UnknownEntry
from workflows.knowledge.grams import tokens_text
from workflows.knowledge.split import Format, split

__all__ = [
    "Document",
    "DocumentPassage",
    "Entry",
    "EntryFields",
    "PreparedDocument",
    "add_document",
    "add_entry",
    "delete_document",
    "delete_entry",
    "find_document",
    "find_entry",
    "list_documents",
    "list_entries",
    "passages_of",
    "prepare_document",
    "primary_language",
    "put_entry",
]


def primary_language(tag: str | None) -> str | None:
    """The primary subtag of a language tag, lower case (``ko-KR`` -> ``ko``)."""
    if not tag:
        return None
    return tag.split("-", 1)[0].split("_", 1)[0].lower() or None


@dataclass(frozen=True, slots=True)
class EntryFields:
    """What an admin writes in an FAQ entry."""

    question: str
    answer: str
    keywords: Sequence[str] = ()
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    fields: EntryFields
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    title: str
    format: Format
    language: str | None
    size: int
    passage_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DocumentPassage:
    id: int
    position: int
    heading: str | None
    text: str


_FTS_INSERT = text("INSERT INTO knowledge_fts(rowid, grams) VALUES (:id, :grams)")
_FTS_DELETE = text("DELETE FROM knowledge_fts WHERE rowid = :id")


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def _index(conn: Connection, rows: Iterable[tuple[int, str]]) -> None:
    """Put passages (id, grams) in SQLite's FTS5 table (PostgreSQL indexes the column)."""
    values = [{"id": passage_id, "grams": grams} for passage_id, grams in rows]
    if values and _is_sqlite(conn):
        conn.execute(_FTS_INSERT, values)


def _unindex(conn: Connection, where: Any) -> None:
    """Remove the passages ``where`` selects, and their FTS5 rows."""
    if _is_sqlite(conn):
        ids = list(conn.execute(select(knowledge_passages.c.id).where(where)).scalars())
        if ids:
            conn.execute(_FTS_DELETE, [{"id": i} for i in ids])
    conn.execute(delete(knowledge_passages).where(where))


def _entry_passage(conn: Connection, entry_id: int, fields: EntryFields) -> None:
    searchable = "\n".join((fields.question, *fields.keywords, fields.answer))
    grams = tokens_text(searchable)
    passage_id = conn.execute(
        insert(knowledge_passages)
        .values(
            entry_id=entry_id,
            document_id=None,
            position=0,
            heading=fields.question,
            text=fields.answer,
            language=primary_language(fields.language),
            grams=grams,
        )
        .returning(knowledge_passages.c.id)
    ).scalar_one()
    _index(conn, [(passage_id, grams)])


def _entry(row: Row[Any]) -> Entry:
    return Entry(
        id=row.id,
        fields=EntryFields(row.question, row.answer, tuple(row.keywords), row.language),
        created_at=stored_time(row.created_at),
        updated_at=stored_time(row.updated_at),
    )


def add_entry(conn: Connection, fields: EntryFields, now: datetime) -> Entry:
    """Store a new FAQ entry, searchable at once."""
    entry_id = conn.execute(
        insert(knowledge_entries)
        .values(
            question=fields.question,
            answer=fields.answer,
            keywords=list(fields.keywords),
            language=primary_language(fields.language),
            created_at=now,
            updated_at=now,
        )
        .returning(knowledge_entries.c.id)
    ).scalar_one()
    _entry_passage(conn, entry_id, fields)
    return Entry(
        entry_id,
        EntryFields(
            fields.question,
            fields.answer,
            tuple(fields.keywords),
            primary_language(fields.language),
        ),
        now,
        now,
    )


def put_entry(conn: Connection, entry_id: int, fields: EntryFields, now: datetime) -> Entry:
    """Replace entry ``entry_id``'s fields; ``UnknownEntry`` if there is none."""
    changed = conn.execute(
        update(knowledge_entries)
        .where(knowledge_entries.c.id == entry_id)
        .values(
            question=fields.question,
            answer=fields.answer,
            keywords=list(fields.keywords),
            language=primary_language(fields.language),
            updated_at=now,
        )
    ).rowcount
    if not changed:
        raise UnknownEntry(entry_id)
    _unindex(conn, knowledge_passages.c.entry_id == entry_id)
    _entry_passage(conn, entry_id, fields)
    found = find_entry(conn, entry_id)
    assert found is not None
    return found


def find_entry(conn: Connection, entry_id: int) -> Entry | None:
    row = conn.execute(select(knowledge_entries).where(knowledge_entries.c.id == entry_id)).first()
    return _entry(row) if row is not None else None


def list_entries(
    conn: Connection, *, language: str | None = None, limit: int = 100, after: int = 0
) -> list[Entry]:
    """Entries by id (those after id ``after``), of ``language`` (and of any) if given."""
    query = select(knowledge_entries).where(knowledge_entries.c.id > after)
    lang = primary_language(language)
    if lang is not None:
        query = query.where(
            knowledge_entries.c.language.is_(None) | (knowledge_entries.c.language == lang)
        )
    rows = conn.execute(query.order_by(knowledge_entries.c.id).limit(limit))
    return [_entry(row) for row in rows]


def delete_entry(conn: Connection, entry_id: int) -> None:
    """Delete entry ``entry_id``; ``UnknownEntry`` if there is none."""
    _unindex(conn, knowledge_passages.c.entry_id == entry_id)
    gone = conn.execute(
        delete(knowledge_entries).where(knowledge_entries.c.id == entry_id)
    ).rowcount
    if not gone:
        raise UnknownEntry(entry_id)


def _document(row: Row[Any]) -> Document:
    return Document(
        id=row.id,
        title=row.title,
        format=row.format,
        language=row.language,
        size=row.size,
        passage_count=row.passage_count,
        created_at=stored_time(row.created_at),
    )


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document split and tokenised, ready to store: CPU work done before the write
    transaction, which then only inserts rows (a long manual takes a second to prepare)."""

    title: str
    format: Format
    language: str | None
    size: int
    passages: tuple[tuple[str | None, str, str], ...]
    """(heading, text, grams) of each passage, in order."""


def prepare_document(
    title: str, content: str, *, format: Format = "markdown", language: str | None = None
) -> PreparedDocument:
    """``content`` split into passages (:mod:`workflows.knowledge.split`) with their search
    tokens; ``EmptyDocument`` when it has no text."""
    passages = split(content, format)
    if not passages:
        raise EmptyDocument("the document has no text")
    return PreparedDocument(
        title,
        format,
        primary_language(language),
        len(content),
        tuple(
            (p.heading, p.text, tokens_text("\n".join(filter(None, (title, p.heading, p.text)))))
            for p in passages
        ),
    )


def add_document(conn: Connection, document: PreparedDocument, now: datetime) -> Document:
    """Store a prepared document and its passages, searchable at once."""
    document_id = conn.execute(
        insert(knowledge_documents)
        .values(
            title=document.title,
            format=document.format,
            language=document.language,
            size=document.size,
            passage_count=len(document.passages),
            created_at=now,
        )
        .returning(knowledge_documents.c.id)
    ).scalar_one()
    rows = [
        {
            "entry_id": None,
            "document_id": document_id,
            "position": position,
            "heading": heading,
            "text": text_,
            "language": document.language,
            "grams": grams,
        }
        for position, (heading, text_, grams) in enumerate(document.passages)
    ]
    conn.execute(insert(knowledge_passages), rows)
    if _is_sqlite(conn):
        stored = conn.execute(
            select(knowledge_passages.c.id, knowledge_passages.c.grams).where(
                knowledge_passages.c.document_id == document_id
            )
        )
        _index(conn, [(row.id, row.grams) for row in stored])
    return Document(
        document_id,
        document.title,
        document.format,
        document.language,
        document.size,
        len(document.passages),
        now,
    )


def find_document(conn: Connection, document_id: int) -> Document | None:
    row = conn.execute(
        select(knowledge_documents).where(knowledge_documents.c.id == document_id)
    ).first()
    return _document(row) if row is not None else None


def list_documents(conn: Connection) -> list[Document]:
    rows = conn.execute(select(knowledge_documents).order_by(knowledge_documents.c.id))
    return [_document(row) for row in rows]


def passages_of(conn: Connection, document_id: int) -> list[DocumentPassage]:
    rows = conn.execute(
        select(
            knowledge_passages.c.id,
            knowledge_passages.c.position,
            knowledge_passages.c.heading,
            knowledge_passages.c.text,
        )
        .where(knowledge_passages.c.document_id == document_id)
        .order_by(knowledge_passages.c.position)
    )
    return [DocumentPassage(row.id, row.position, row.heading, row.text) for row in rows]


def delete_document(conn: Connection, document_id: int) -> None:
    """Delete document ``document_id`` and its passages; ``UnknownDocument`` if none."""
    _unindex(conn, knowledge_passages.c.document_id == document_id)
    gone = conn.execute(
        delete(knowledge_documents).where(knowledge_documents.c.id == document_id)
    ).rowcount
    if not gone:
        raise UnknownDocument(document_id)


def count_passages(conn: Connection, language: str | None) -> int:
    """How many passages a search in ``language`` (None: any) looks through."""
    query = select(func.count()).select_from(knowledge_passages)
    lang = primary_language(language)
    if lang is not None:
        query = query.where(
            knowledge_passages.c.language.is_(None) | (knowledge_passages.c.language == lang)
        )
    return int(conn.execute(query).scalar_one())
