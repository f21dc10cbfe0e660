"""The ``api_tokens`` table: API tokens, stored as SHA-256 hashes, never in clear.

A token's ``role`` is ``admin`` (everything) or ``agent`` (conversations only, acting as the
agent ``agent_id``); an admin token with ``scopes`` (space-separated, e.g. ``events``) may
call only the operations open to one of them (an integration's token)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, Integer, String, Table, text

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
    Column("role", String(8), nullable=False, server_default=text("'admin'")),
    Column("agent_id", Integer, nullable=True, comment="the agent an agent token acts as"),
    Column(
        "scopes",
        String(200),
        nullable=True,
        comment="space-separated scopes of an integration token; NULL: every operation",
    ),
    CheckConstraint("role IN ('admin', 'agent')", name="role"),
)
