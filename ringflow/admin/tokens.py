"""API tokens: 256 random bits, shown once, stored as a SHA-256 hash.

An admin token (``ringflow token create NAME``) may call everything; an agent token
(``ringflow agents token NAME``) acts as its agent and may call the conversation endpoints only;
a scoped token (``ringflow token create NAME --scope events``), for another system, may call
only the operations open to its scopes (:data:`SCOPES`: ``events`` is ``POST /api/events``).

A token reads ``rf_`` + 43 URL-safe characters. The database keeps its hash and its first
characters (to tell tokens apart in a list), never the token. Checking one hashes what the
client sent and looks the hash up: the lookup goes by the hash, so how much of a guess is
right tells an attacker nothing; the token from ``RINGFLOW_ADMIN_TOKEN`` is compared with
``hmac.compare_digest`` on hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from ringflow.admin.db import api_tokens

SCOPES = ("events",)
"""The scopes a token may be limited to."""
PREFIX = "rf_"
TOKEN_BYTES = 32  # 256 bits
NAME_MAX = 64


class TokenNameTaken(ValueError):
    """A token with this name exists already."""


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Whom a live token belongs to: its name, and the agent it acts as (None: an admin)."""

    name: str
    agent_id: int | None = None
    scopes: frozenset[str] | None = None
    """A scoped token's scopes (None: not limited by scopes)."""

    @property
    def is_agent(self) -> bool:
        return self.agent_id is not None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    agent_id: int | None = None
    scopes: tuple[str, ...] | None = None


def new_token() -> str:
    """A fresh token (show it once, store only :func:`token_hash`)."""
    return PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The SHA-256 hex digest stored for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(presented: str, expected: str) -> bool:
    """Constant-time comparison of two tokens (of their hashes, so lengths do not leak)."""
    return hmac.compare_digest(token_hash(presented), token_hash(expected))


def create_token(
    conn: Connection,
    name: str,
    now: datetime,
    *,
    agent_id: int | None = None,
    scopes: Sequence[str] | None = None,
) -> str:
    """Create the token ``name`` and return it (the only time it exists in clear); with
    ``agent_id``, an agent token acting as that agent; with ``scopes``, a token that may call
    only the operations open to them."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"a token name is 1 to {NAME_MAX} characters")
    if scopes is not None:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ValueError(f"unknown scope {' '.join(unknown)!r}: use {', '.join(SCOPES)}")
        if agent_id is not None:
            raise ValueError("an agent token has no scopes")
    token = new_token()
    row = {
        "name": name,
        "token_hash": token_hash(token),
        "prefix": token[: len(PREFIX) + 6],
        "created_at": now,
        "last_used_at": None,
        "revoked_at": None,
        "role": "admin" if agent_id is None else "agent",
        "agent_id": agent_id,
        "scopes": " ".join(sorted(set(scopes))) if scopes is not None else None,
    }
    try:
        with conn.begin_nested():
            conn.execute(api_tokens.insert().values(**row))
    except IntegrityError:
        raise TokenNameTaken(f"a token named {name!r} exists already") from None
    return token


def revoke_token(conn: Connection, name: str, now: datetime) -> bool:
    """Revoke the token ``name``; whether there was such a live token."""
    changed = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    return bool(changed)


def revoke_agent_tokens(conn: Connection, agent_id: int, now: datetime) -> int:
    """Revoke every live token of the agent ``agent_id``; how many there were."""
    return int(
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.agent_id == agent_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    )


_BY_HASH = select(
    api_tokens.c.name, api_tokens.c.role, api_tokens.c.agent_id, api_tokens.c.scopes
).where(api_tokens.c.token_hash == bindparam("digest"), api_tokens.c.revoked_at.is_(None))


def token_owner(conn: Connection, token: str) -> TokenOwner | None:
    """Whom the live token ``token`` belongs to, or None. An agent token whose agent is gone
    (its agent id was cleared) is no token at all."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = conn.execute(_BY_HASH, {"digest": token_hash(token)}).first()
    if row is None:
        return None
    if row.role == "agent":
        return None if row.agent_id is None else TokenOwner(str(row.name), int(row.agent_id))
    scopes = frozenset(row.scopes.split()) if row.scopes is not None else None
    return TokenOwner(str(row.name), scopes=scopes)


def list_tokens(conn: Connection) -> list[TokenInfo]:
    """Every token, oldest first."""
    rows = conn.execute(select(api_tokens).order_by(api_tokens.c.id)).all()
    return [
        TokenInfo(
            r.name,
            r.prefix,
            r.created_at,
            r.last_used_at,
            r.revoked_at is not None,
            r.agent_id,
            tuple(r.scopes.split()) if r.scopes is not None else None,
        )
        for r in rows
    ]
