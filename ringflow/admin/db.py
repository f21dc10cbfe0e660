"""The ``api_tokens`` table: admin API tokens, stored as SHA-256 hashes, never in clear."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table

from ringflow.database import metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True, comment="sha256 hex"),
    Column("prefix", String(12), nullable=False, comment="first characters, to tell tokens apart"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
