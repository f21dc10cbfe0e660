"""Browser sessions: an API token exchanged once for a session cookie, for Ringflow's own pages
(the agent inbox; the admin console reuses it).

A person signs in by pasting a token (``ringflow agents token NAME``, or an admin token from
``ringflow token create``). The token itself never goes into the browser's storage: the server
keeps a session row and sets a cookie holding the session's secret (256 random bits):

* ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` (other sites' pages never make
  the browser send it), ``Path=/``, and ``Secure`` with the ``__Host-`` name prefix when the
  public URL is https;
* the database keeps only the secret's SHA-256 hash, with an absolute expiry; a session is
  ended by signing out, by revoking the token it came from (``ringflow token revoke``, or
  deleting the agent), or by expiring;
* every state-changing request (anything but GET/HEAD/OPTIONS) must carry the session's CSRF
  token in ``X-CSRF-Token`` (or the ``csrf_token`` form field) and an ``Origin`` that is this
  server's (the configured public URL's origin, or the ``Host`` the request was sent to). The
  CSRF token is derived from the session secret (a different hash of it), so it is not stored
  and a leaked database row gives neither.

The ``/api`` application accepts the cookie in place of a bearer token
(:mod:`ringflow.admin.auth`), so a page is a small script over the same API, with the same
rules (an agent's session gets 403 outside conversations, as its token does).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    delete,
    select,
    update,
)

from ringflow.admin.db import api_tokens
from ringflow.admin.tokens import TokenOwner, token_hash
from ringflow.clock import Clock
from ringflow.database import Database, metadata, stored_time

__all__ = [
    "BROWSER_SESSIONS",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LIFETIME",
    "BrowserSession",
    "BrowserSessions",
    "browser_sessions",
    "csrf_of",
    "end_session",
    "session_of",
    "start_session",
]

LIFETIME: Final = timedelta(hours=12)
"""How long a session lasts after signing in (a working day), whatever is done meanwhile."""
SECRET_BYTES: Final = 32
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
"""The form field carrying the CSRF token (plain HTML forms, such as signing out)."""
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_COOKIE: Final = 100

browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("secret_hash", String(64), nullable=False, unique=True, comment="sha256 hex"),
    Column(
        "token_id",
        Integer,
        ForeignKey("api_tokens.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        comment="the token signed in with: revoking it ends the session",
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("ended_at", DateTime(timezone=True), nullable=True, comment="signed out"),
)


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A live session: its row, who it acts as, its CSRF token and when it ends."""

    id: int
    owner: TokenOwner
    csrf: str
    expires_at: datetime


def csrf_of(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    return hashlib.sha256(b"ringflow-csrf:" + secret.encode()).hexdigest()


def start_session(
    conn: Connection, token: str, now: datetime, lifetime: timedelta = LIFETIME
) -> tuple[str, TokenOwner] | None:
    """A new session for the live stored token ``token``: its secret (the cookie's value,
    shown only now) and who it acts as; None when the token is not a live stored one.
    Sessions that ended or expired are deleted on the way."""
    row = conn.execute(
        select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.agent_id).where(
            api_tokens.c.token_hash == token_hash(token), api_tokens.c.revoked_at.is_(None)
        )
    ).first()
    if row is None or (row.role == "agent" and row.agent_id is None):
        return None
    conn.execute(
        delete(browser_sessions).where(
            (browser_sessions.c.expires_at <= now) | browser_sessions.c.ended_at.is_not(None)
        )
    )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    conn.execute(
        browser_sessions.insert().values(
            secret_hash=token_hash(secret),
            token_id=row.id,
            created_at=now,
            expires_at=now + lifetime,
            ended_at=None,
        )
    )
    owner = TokenOwner(str(row.name), None if row.role == "admin" else int(row.agent_id))
    return secret, owner


def session_of(conn: Connection, secret: str, now: datetime) -> BrowserSession | None:
    """The live session whose cookie holds ``secret``, or None (unknown, signed out, expired,
    or its token revoked)."""
    if not secret or len(secret) > MAX_COOKIE:
        return None
    s, t = browser_sessions.c, api_tokens.c
    row = conn.execute(
        select(s.id, s.expires_at, t.name, t.role, t.agent_id)
        .select_from(browser_sessions.join(api_tokens, s.token_id == t.id))
        .where(
            s.secret_hash == token_hash(secret),
            s.ended_at.is_(None),
            s.expires_at > now,
            t.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    if row.role == "agent":
        if row.agent_id is None:  # its agent was deleted
            return None
        owner = TokenOwner(str(row.name), int(row.agent_id))
    else:
        owner = TokenOwner(str(row.name))
    return BrowserSession(int(row.id), owner, csrf_of(secret), stored_time(row.expires_at))


def end_session(conn: Connection, secret: str, now: datetime) -> bool:
    """Sign out the session whose cookie holds ``secret``; whether it was live."""
    changed = conn.execute(
        update(browser_sessions)
        .where(
            browser_sessions.c.secret_hash == token_hash(secret),
            browser_sessions.c.ended_at.is_(None),
        )
        .values(ended_at=now)
    ).rowcount
    return bool(changed)


_SESSION = web.RequestKey("browser_session", object)


@dataclass(frozen=True)
class BrowserSessions:
    """Sessions as the web layer sees them: the cookie, the origin and CSRF checks.

    ``public_url``: the server's configured public URL (its scheme decides ``Secure``; its
    origin is accepted in ``Origin``), None when not configured."""

    db: Database
    clock: Clock
    public_url: str | None = None
    lifetime: timedelta = LIFETIME

    @property
    def secure(self) -> bool:
        """Whether cookies are ``Secure`` (the public URL is https)."""
        return bool(self.public_url) and urlsplit(self.public_url or "").scheme == "https"

    @property
    def cookie_name(self) -> str:
        return "__Host-ringflow_session" if self.secure else "ringflow_session"

    def set_cookie(self, response: web.StreamResponse, secret: str) -> None:
        response.set_cookie(
            self.cookie_name,
            secret,
            max_age=int(self.lifetime.total_seconds()),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Strict",
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(
            self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Strict"
        )

    def secret_of(self, request: web.Request) -> str | None:
        """The session secret the request's cookie holds, if any."""
        return request.cookies.get(self.cookie_name) or None

    async def sign_in(self, token: str) -> tuple[str, TokenOwner] | None:
        """A new session for ``token`` (see :func:`start_session`)."""
        now, lifetime = self.clock(), self.lifetime
        return await self.db.write(lambda conn: start_session(conn, token, now, lifetime))

    async def sign_out(self, request: web.Request) -> None:
        secret = self.secret_of(request)
        if secret is not None:
            now = self.clock()
            await self.db.write(lambda conn: end_session(conn, secret, now))

    async def current(self, request: web.Request) -> BrowserSession | None:
        """The request's live session (read once per request), or None."""
        if _SESSION in request:
            found = request[_SESSION]
            return found if isinstance(found, BrowserSession) else None
        secret = self.secret_of(request)
        session = None
        if secret is not None:
            now = self.clock()
            session = await self.db.read(lambda conn: session_of(conn, secret, now))
        request[_SESSION] = session
        return session

    async def still_live(self, secret: str) -> bool:
        """Whether the session of ``secret`` is still live (read again now)."""
        now = self.clock()
        return await self.db.read(lambda conn: session_of(conn, secret, now)) is not None

    def same_origin(self, request: web.Request) -> bool:
        """Whether the request's ``Origin`` is this server: the public URL's origin, or the
        host the request was addressed to (``Host``, any scheme: TLS may end at a proxy)."""
        origin = request.headers.get("Origin")
        if not origin or origin == "null":
            return False
        parts = urlsplit(origin)
        if self.public_url:
            public = urlsplit(self.public_url)
            if (parts.scheme, parts.netloc) == (public.scheme, public.netloc):
                return True
        host = request.headers.get("Host")
        return bool(host) and parts.netloc == host and parts.scheme in ("http", "https")

    def refusal(
        self, request: web.Request, session: BrowserSession, form_token: str | None = None
    ) -> str | None:
        """Why a state-changing request with ``session`` is refused (None: let it through):
        a foreign or missing ``Origin``, or a missing or wrong CSRF token (the header, or
        ``form_token`` from a form)."""
        if request.method in SAFE_METHODS:
            return None
        if not self.same_origin(request):
            return "the request's Origin is not this server"
        sent = request.headers.get(CSRF_HEADER) or form_token or ""
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            return f"a missing or wrong CSRF token (send the page's token in {CSRF_HEADER})"
        return None


BROWSER_SESSIONS = web.AppKey("browser_sessions", BrowserSessions)
