"""events in, webhooks out: external events, token scopes, webhook subscriptions and
deliveries

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column(
                "scopes",
                sa.String(length=200),
                nullable=True,
                comment="space-separated scopes of an integration token; NULL: every operation",
            )
        )
    op.create_table(
        "external_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=140), nullable=False, comment="e.g. checkout.idle"),
        sa.Column("contact_number", sa.String(length=32), nullable=False, comment="E.164"),
        sa.Column(
            "contact", sa.JSON(), nullable=False, comment="the contact as the sender named it"
        ),
        sa.Column(
            "line",
            sa.String(length=32),
            nullable=True,
            comment="the business number to answer from",
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column(
            "fingerprint",
            sa.String(length=64),
            nullable=False,
            comment="sha256 of the event's content",
        ),
        sa.Column(
            "source",
            sa.String(length=64),
            nullable=False,
            comment="the name of the token that sent it",
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_events")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_external_events_idempotency_key")),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column(
            "events",
            sa.JSON(),
            nullable=False,
            comment="event types or families (conversation.*)",
        ),
        sa.Column(
            "secret",
            sa.String(length=100),
            nullable=False,
            comment="whsec_<base64>: signs every body",
        ),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "id",
            sa.String(length=40),
            nullable=False,
            comment="msg_<random>: the webhook-id header",
        ),
        sa.Column("subscription_id", _ID, nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False, comment="the exact JSON posted (and signed)"),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="queued, delivered, failed",
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "last_status",
            sa.Integer(),
            nullable=True,
            comment="the last HTTP status answered",
        ),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_subscription_id_created_at"),
        "webhook_deliveries",
        ["subscription_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_table("external_events")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scopes")
