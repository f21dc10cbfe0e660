"""The tables of outbound webhooks: subscriptions and the deliveries made for them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False, comment="event types or families (conversation.*)"),
    Column("secret", String(100), nullable=False, comment="whsec_<base64>: signs every body"),
    Column("description", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("disabled_reason", String(200), nullable=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True, comment="msg_<random>: the webhook-id header"),
    Column(
        "subscription_id",
        _ID,
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False, comment="the exact JSON posted (and signed)"),
    Column("status", String(16), nullable=False, comment="queued, delivered, failed"),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer, nullable=True, comment="the last HTTP status answered"),
    Column("last_error", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index(None, "subscription_id", "created_at"),
    Index(None, "status", "created_at"),  # settled deliveries deleted after the retention
)
