"""Who a chat visitor is: the visitor id the browser keeps, and what the site vouches for.

**Visitor ids** are issued by the server: ``<public>.<signature>``, where ``public`` is 16
random bytes (22 characters of base64url) and ``signature`` an HMAC-SHA256 of it with the
server's secret (``RINGFLOW_CHAT_SECRET``, else one made once and kept in the database). The
widget keeps the whole id in the site's ``localStorage`` and presents it when it connects; a
forged or altered id is refused and the browser is given a new visitor. The public half also
names the visitor's contact (``chat:<public>``) and may show in the admin API; the signature
never leaves the visitor's browser, so knowing a public id does not open its conversation.

**Identity verification** (like Intercom's): the site's server signs what it knows about the
signed-in visitor, ``identity`` = a JSON object (``{"user_id": "42", "member": true, "tier":
"gold"}``), with the shared secret ``RINGFLOW_CHAT_IDENTITY_SECRET``: ``identity_hmac`` =
hex(HMAC-SHA256(secret, the exact bytes of ``identity``)). Only a verified identity's
scalar attributes reach the visitor's contact (what workflow filters read); anything
unsigned, or signed wrongly, is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from chat.db import chat_secrets, chat_visitors

VISITOR_PREFIX: Final = "chat:"
_PUBLIC = re.compile(r"^[A-Za-z0-9_-]{22}$")
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$")
MAX_IDENTITY_BYTES: Final = 4096
MAX_ATTRIBUTES: Final = 50
RESERVED: Final = frozenset({"name", "number"})
"""Contact fields an identity cannot set as attributes."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class VisitorKeys:
    """Issues and checks visitor ids with the server's secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the chat secret must be at least 16 bytes")
        self._secret = secret

    def _sign(self, public: str) -> str:
        return _b64(hmac.new(self._secret, public.encode(), hashlib.sha256).digest())

    def issue(self) -> tuple[str, str]:
        """A new visitor: (its public id, the id the browser keeps)."""
        public = _b64(secrets.token_bytes(16))
        return public, f"{public}.{self._sign(public)}"

    def check(self, token: object) -> str | None:
        """The public id of a genuine visitor id, else None."""
        if not isinstance(token, str):
            return None
        found = _TOKEN.match(token)
        if found is None:
            return None
        public, signature = found.groups()
        return public if hmac.compare_digest(signature, self._sign(public)) else None


def load_secret(conn: Connection) -> bytes:
    """The server's secret for visitor ids kept in the database, made on first use (every
    instance on the database reads the same one)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(chat_secrets)
        .values(name="visitor_ids", value=secrets.token_urlsafe(48))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = conn.execute(
        select(chat_secrets.c.value).where(chat_secrets.c.name == "visitor_ids")
    ).scalar_one()
    return str(value).encode()


@dataclass(frozen=True, slots=True)
class Identity:
    """What a site vouched for: its ``user_id`` for the visitor and scalar ``attributes``."""

    user_id: str | None
    attributes: dict[str, str | int | float | bool]


def verify_identity(secret: bytes | None, identity: object, signature: object) -> Identity | None:
    """The identity a site signed, or None (no secret configured, nothing sent, a wrong
    signature, or not a JSON object)."""
    if secret is None or not isinstance(identity, str) or not isinstance(signature, str):
        return None
    raw = identity.encode()
    if len(raw) > MAX_IDENTITY_BYTES:
        return None
    expected = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return None
    try:
        data = json.loads(identity)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    user_id = data.get("user_id")
    attributes: dict[str, str | int | float | bool] = {}
    for key, value in list(data.items())[: MAX_ATTRIBUTES + 1]:
        if key == "user_id" or key in RESERVED or not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, str | int | float | bool) and len(str(value)) <= 256:
            attributes[key] = value
    return Identity(str(user_id)[:128] if user_id is not None else None, attributes)


@dataclass(frozen=True, slots=True)
class Visitor:
    """A visitor as stored."""

    id: int
    public_id: str
    name: str | None
    email: str | None
    phone: str | None
    contact_number: str | None
    identity: dict[str, Any]

    @property
    def address(self) -> str:
        """The visitor's contact key (``chat:<public id>``)."""
        return VISITOR_PREFIX + self.public_id


def _visitor(row: Any) -> Visitor:
    return Visitor(
        id=row.id,
        public_id=row.public_id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        contact_number=row.contact_number,
        identity=dict(row.identity or {}),
    )


def ensure_visitor(conn: Connection, public_id: str, now: datetime) -> Visitor:
    """The visitor ``public_id`` (made on its first connection), seen ``now``."""
    assert _PUBLIC.match(public_id), public_id
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(chat_visitors)
        .values(public_id=public_id, created_at=now, last_seen_at=now)
        .on_conflict_do_nothing(index_elements=["public_id"])
    )
    conn.execute(
        update(chat_visitors).where(chat_visitors.c.public_id == public_id).values(last_seen_at=now)
    )
    row = conn.execute(select(chat_visitors).where(chat_visitors.c.public_id == public_id)).one()
    return _visitor(row)


def visitor_by_id(conn: Connection, visitor_id: int) -> Visitor | None:
    """The visitor ``visitor_id``, or None."""
    row = conn.execute(select(chat_visitors).where(chat_visitors.c.id == visitor_id)).first()
    return None if row is None else _visitor(row)


def visitor_by_address(conn: Connection, address: str) -> Visitor | None:
    """The visitor whose contact key is ``address`` (``chat:<public id>``), or None."""
    if not address.startswith(VISITOR_PREFIX):
        return None
    public = address[len(VISITOR_PREFIX) :]
    row = conn.execute(select(chat_visitors).where(chat_visitors.c.public_id == public)).first()
    return None if row is None else _visitor(row)


def visitor_verified_as(conn: Connection, number: str) -> Visitor | None:
    """The visitor last seen of those whose verified identity's ``phone`` is ``number``, or
    None. Only the site's signature counts: a number a visitor typed is not theirs for sure,
    and a message meant for that number (an event's nudge, with its data) must not reach
    whoever typed it."""
    row = conn.execute(
        select(chat_visitors)
        .where(chat_visitors.c.identity["phone"].as_string() == number)
        .order_by(chat_visitors.c.last_seen_at.desc(), chat_visitors.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _visitor(row)
