"""knowledge base: FAQ entries, documents, their passages and a full-text index of them

On SQLite the index is the FTS5 table ``knowledge_fts`` (rowid = passage id); on PostgreSQL a
GIN index on ``to_tsvector('simple', grams)``: built-in full text, no extension to install.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "knowledge_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False, comment="phrases that find the entry"),
        sa.Column(
            "language",
            sa.String(length=16),
            nullable=True,
            comment="language tag; null: any language",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entries")),
    )
    op.create_table(
        "knowledge_documents",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False, comment="markdown or text"),
        sa.Column(
            "language",
            sa.String(length=16),
            nullable=True,
            comment="language tag; null: any language",
        ),
        sa.Column("size", sa.Integer(), nullable=False, comment="characters uploaded"),
        sa.Column("passage_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "format IN ('markdown', 'text')", name=op.f("ck_knowledge_documents_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_documents")),
    )
    op.create_table(
        "knowledge_passages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("entry_id", _ID, nullable=True),
        sa.Column("document_id", _ID, nullable=True),
        sa.Column("position", sa.Integer(), nullable=False, comment="order within its document"),
        sa.Column(
            "heading", sa.String(length=300), nullable=True, comment="the section it comes from"
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column(
            "grams",
            sa.Text(),
            nullable=False,
            comment="search tokens (workflows.knowledge.grams)",
        ),
        sa.CheckConstraint(
            "(entry_id IS NULL) <> (document_id IS NULL)",
            name=op.f("ck_knowledge_passages_one_source"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["knowledge_entries.id"],
            name=op.f("fk_knowledge_passages_entry_id_knowledge_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name=op.f("fk_knowledge_passages_document_id_knowledge_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_passages")),
    )
    op.create_index("ix_knowledge_passages_entry_id", "knowledge_passages", ["entry_id"])
    op.create_index(
        "ix_knowledge_passages_document_id", "knowledge_passages", ["document_id", "position"]
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE knowledge_fts USING fts5(grams, tokenize='ascii')")
    else:
        op.execute(
            "CREATE INDEX ix_knowledge_passages_grams ON knowledge_passages"
            " USING gin (to_tsvector('simple'::regconfig, grams))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE knowledge_fts")
    else:
        op.execute("DROP INDEX ix_knowledge_passages_grams")
    op.drop_index("ix_knowledge_passages_document_id", table_name="knowledge_passages")
    op.drop_index("ix_knowledge_passages_entry_id", table_name="knowledge_passages")
    op.drop_table("knowledge_passages")
    op.drop_table("knowledge_documents")
    op.drop_table("knowledge_entries")
