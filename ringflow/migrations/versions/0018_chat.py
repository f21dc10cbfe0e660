"""web chat: visitors, their messages, the secret visitor ids are signed with

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chat_visitors",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column(
            "public_id",
            sa.String(length=32),
            nullable=False,
            comment="the visitor id's public half",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True, comment="as the visitor gave it"),
        sa.Column("email", sa.String(length=255), nullable=True, comment="as the visitor gave it"),
        sa.Column(
            "phone", sa.String(length=32), nullable=True, comment="as the visitor gave it, E.164"
        ),
        sa.Column(
            "contact_number",
            sa.String(length=32),
            nullable=True,
            comment="the matched contact, E.164",
        ),
        sa.Column(
            "user_id",
            sa.String(length=128),
            nullable=True,
            comment="the site's id, verified by HMAC",
        ),
        sa.Column("identity", sa.JSON(), nullable=True, comment="attributes the site signed"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_visitors")),
        sa.UniqueConstraint("public_id", name=op.f("uq_chat_visitors_public_id")),
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("visitor_id", _ID, nullable=False),
        sa.Column("conversation_id", _ID, nullable=True, comment="the conversation it belongs to"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=8), nullable=False, comment="visitor, bot or agent"),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "buttons", sa.JSON(), nullable=True, comment="answers offered: [[key, label], ...]"
        ),
        sa.Column(
            "client_key",
            sa.String(length=64),
            nullable=True,
            comment="the widget's id of the message",
        ),
        sa.CheckConstraint(
            "sender IN ('visitor', 'bot', 'agent')", name=op.f("ck_chat_messages_sender")
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["chat_visitors.id"],
            name=op.f("fk_chat_messages_visitor_id_chat_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint(
            "visitor_id", "client_key", name=op.f("uq_chat_messages_visitor_id_client_key")
        ),
    )
    op.create_index(
        "ix_chat_messages_visitor_id_id", "chat_messages", ["visitor_id", "id"], unique=False
    )
    op.create_index(
        "ix_chat_messages_conversation_id", "chat_messages", ["conversation_id"], unique=False
    )
    op.create_table(
        "chat_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_chat_secrets")),
    )


def downgrade() -> None:
    op.drop_table("chat_secrets")
    op.drop_index("ix_chat_messages_conversation_id", table_name="chat_messages")
    op.drop_index("ix_chat_messages_visitor_id_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_table("chat_visitors")
