"""The ``external_events`` table: every event another system sent, as accepted."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from ringflow.database import metadata

_ID = BigInteger().with_variant(Integer(), "sqlite")

external_events = Table(
    "external_events",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("name", String(140), nullable=False, comment="e.g. checkout.idle"),
    Column("contact_number", String(32), nullable=False, comment="E.164"),
    Column("contact", JSON, nullable=False, comment="the contact as the sender named it"),
    Column("line", String(32), nullable=True, comment="the business number to answer from"),
    Column("channel", String(16), nullable=False),
    Column("data", JSON, nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("fingerprint", String(64), nullable=False, comment="sha256 of the event's content"),
    Column("source", String(64), nullable=False, comment="the name of the token that sent it"),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("idempotency_key"),
)
