"""conversations and trigger_firings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trigger_firings",
        sa.Column(
            "event_key", sa.String(length=128), nullable=False, comment="one firing per event, ever"
        ),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("contact_number", sa.String(length=32), nullable=False, comment="E.164"),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="started, limited, failed, reply or ignored",
        ),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_key", name=op.f("pk_trigger_firings")),
    )
    op.create_index(
        "ix_trigger_firings_recent",
        "trigger_firings",
        ["workflow_id", "contact_number", "fired_at"],
    )
    op.create_table(
        "conversations",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column(
            "business_number", sa.String(length=32), nullable=False, comment="our number, E.164"
        ),
        sa.Column(
            "contact_number", sa.String(length=32), nullable=False, comment="the contact's, E.164"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "waiting_run_id",
            sa.String(length=32),
            nullable=True,
            comment="the run awaiting a reply",
        ),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "business_number",
            "contact_number",
            name=op.f("uq_conversations_business_number_contact_number"),
        ),
    )


def downgrade() -> None:
    op.drop_table("conversations")
    op.drop_index("ix_trigger_firings_recent", table_name="trigger_firings")
    op.drop_table("trigger_firings")
