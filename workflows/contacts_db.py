"""The ``contacts`` table: one row per phone number Ringflow has talked to."""

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
    text,
)

from ringflow.database import metadata

# SQLite only autoincrements an INTEGER PRIMARY KEY (its rowid); a 64-bit integer anyway.
_ID = BigInteger().with_variant(Integer(), "sqlite")

contacts = Table(
    "contacts",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, comment="E.164"),
    Column("name", String(255), nullable=True),
    Column(
        "attributes",
        JSON,
        nullable=False,
        server_default=text("'{}'"),
        comment="flat map of scalar values",
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("number"),
)
