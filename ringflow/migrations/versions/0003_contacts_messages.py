"""contacts and messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(length=32), nullable=False, comment="E.164"),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON(),
            server_default=sa.text("'{}'"),
            nullable=False,
            comment="flat map of scalar values",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("number", name=op.f("uq_contacts_number")),
    )
    op.create_table(
        "messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("direction", sa.String(length=8), nullable=False, comment="outbound or inbound"),
        sa.Column(
            "contact_number",
            sa.String(length=32),
            nullable=False,
            comment="the contact's E.164 number",
        ),
        sa.Column("from_number", sa.String(length=32), nullable=False),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False, comment="GSM-7 or UCS-2"),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "provider",
            sa.String(length=16),
            nullable=True,
            comment="twilio or outbox, once handed over",
        ),
        sa.Column("provider_id", sa.String(length=64), nullable=True, comment="Twilio MessageSid"),
        sa.Column(
            "idempotency_key",
            sa.String(length=255),
            nullable=False,
            comment="one message per key, ever",
        ),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "direction IN ('outbound', 'inbound')", name=op.f("ck_messages_direction")
        ),
        sa.CheckConstraint("encoding IN ('GSM-7', 'UCS-2')", name=op.f("ck_messages_encoding")),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', "
            "'received')",
            name=op.f("ck_messages_status"),
        ),
        sa.CheckConstraint("provider IN ('twilio', 'outbox')", name=op.f("ck_messages_provider")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_messages_idempotency_key")),
        sa.UniqueConstraint("provider_id", name=op.f("uq_messages_provider_id")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_contact_number_created_at",
            ["contact_number", "created_at"],
            unique=False,
        )
        batch_op.create_index("ix_messages_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_status")
        batch_op.drop_index("ix_messages_contact_number_created_at")

    op.drop_table("messages")
    op.drop_table("contacts")
