"""The knowledge base's tables: ``knowledge_entries`` (FAQ entries), ``knowledge_documents``
(uploaded Markdown or text) and ``knowledge_passages``, the searchable units: one per entry,
and the passages a document is split into.

``knowledge_passages.grams`` holds the passage's search tokens (:mod:`workflows.knowledge.grams`).
The full-text index over them lives outside the declared metadata, made by migration 0016:
on SQLite the FTS5 table ``knowledge_fts`` (its rowid is the passage's id, kept in step by
:mod:`workflows.knowledge.store` in the same transaction), on PostgreSQL a GIN index on
``to_tsvector('simple', grams)``. :data:`UNDECLARED_TABLES` and :data:`UNDECLARED_INDEXES`
name them so the schema comparison leaves them alone.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from ringflow.database import metadata

_ID = BigInteger().with_variant(Integer(), "sqlite")

FTS_TABLE = "knowledge_fts"
"""SQLite's FTS5 index of ``knowledge_passages.grams`` (rowid = passage id)."""
GRAMS_INDEX = "ix_knowledge_passages_grams"
"""PostgreSQL's GIN index on ``to_tsvector('simple', grams)``."""
UNDECLARED_TABLES = frozenset(
    {
        FTS_TABLE,
        *(f"{FTS_TABLE}_{shadow}" for shadow in ("content", "data", "idx", "docsize", "config")),
    }
)
UNDECLARED_INDEXES = frozenset({GRAMS_INDEX})

knowledge_entries = Table(
    "knowledge_entries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("question", String(500), nullable=False),
    Column("answer", Text, nullable=False),
    Column("keywords", JSON, nullable=False, comment="phrases that find the entry"),
    Column("language", String(16), nullable=True, comment="language tag; null: any language"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

knowledge_documents = Table(
    "knowledge_documents",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("title", String(200), nullable=False),
    Column("format", String(16), nullable=False, comment="markdown or text"),
    Column("language", String(16), nullable=True, comment="language tag; null: any language"),
    Column("size", Integer, nullable=False, comment="characters uploaded"),
    Column("passage_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("format IN ('markdown', 'text')", name="format"),
)

knowledge_passages = Table(
    "knowledge_passages",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "entry_id",
        _ID,
        ForeignKey("knowledge_entries.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column(
        "document_id",
        _ID,
        ForeignKey("knowledge_documents.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("position", Integer, nullable=False, comment="order within its document"),
    Column("heading", String(300), nullable=True, comment="the section it comes from"),
    Column("text", Text, nullable=False),
    Column("language", String(16), nullable=True),
    Column("grams", Text, nullable=False, comment="search tokens (workflows.knowledge.grams)"),
    CheckConstraint("(entry_id IS NULL) <> (document_id IS NULL)", name="one_source"),
    Index("ix_knowledge_passages_entry_id", "entry_id"),
    Index("ix_knowledge_passages_document_id", "document_id", "position"),
)
