"""Who may call the admin API: a bearer token, checked before anything else runs.

``Authorization: Bearer <token>`` must name a live token from ``ringflow token create`` or the
one in ``RINGFLOW_ADMIN_TOKEN``. A request without one, or with a wrong one, is a 401 problem.

The token is checked first: a valid token is always let in, whatever other clients (or the
same address) sent before, so a flood of wrong tokens cannot lock an admin out. Wrong tokens
are counted per client address (the direct peer, or the address a trusted proxy forwarded, see
:mod:`ringflow.client_address`): a client that sent ten wrong tokens within a minute gets 429
with ``Retry-After`` for its further wrong ones, until a minute has passed since the tenth-last
(guessing keeps it blocked). Tokens are 256 random bits, so the limit is not what makes
guessing hopeless; it keeps a guesser's noise out of the log and tells it to stop.

A browser signed in to one of Ringflow's pages sends its session cookie instead
(:mod:`ringflow.browser_sessions`): the session acts as the token it was opened with, and a
state-changing request must also carry the session's CSRF token and this server's ``Origin``
(403 otherwise). A cookie of no live session is a 401.

An agent token (see :mod:`ringflow.admin.tokens`) is let into the endpoints marked for agents
only (``Endpoint.agents``), a scoped token into those open to one of its scopes
(``Endpoint.scopes``): anywhere else they get 403, before the handler runs.

Known tokens are remembered for a minute in this process, so a busy admin client does not cost
a database read per request; a revoked token stops working within that minute everywhere.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from ringflow.admin.problems import ApiProblem
from ringflow.admin.tokens import TokenOwner, same_token, token_owner
from ringflow.browser_sessions import BrowserSessions
from ringflow.client_address import ClientAddress
from ringflow.database import Database

log = logging.getLogger(__name__)

FAILURE_LIMIT = 10
FAILURE_WINDOW = 60.0
KNOWN_FOR = 60.0
MAX_CLIENTS = 10_000
"""Addresses whose failures are remembered; beyond, the oldest are forgotten."""

TOKEN_OWNER = web.RequestKey("token_owner", str)
CALLER = web.RequestKey("caller", TokenOwner)
"""Who called: the token's name and, for an agent token, the agent."""


@dataclass
class Gatekeeper:
    """Checks tokens and counts wrong ones per client address.

    ``clock`` is a monotonic clock in seconds (the windows are durations, not dates);
    ``clients`` finds a request's client address (trusted proxies).
    """

    db: Database
    bootstrap_token: str | None = None
    clock: Callable[[], float] = time.monotonic
    clients: ClientAddress = field(default_factory=ClientAddress)
    sessions: BrowserSessions | None = None
    """Browser sessions accepted in place of a token (None: tokens only)."""
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _known: OrderedDict[str, tuple[TokenOwner, float]] = field(default_factory=OrderedDict)

    def blocked_for(self, client: str) -> float:
        """Seconds until this client's wrong tokens are answered 401 again (0: now)."""
        failures = self._failures.get(client)
        if not failures:
            return 0.0
        now = self.clock()
        while failures and failures[0] <= now - FAILURE_WINDOW:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return 0.0
        if len(failures) < FAILURE_LIMIT:
            return 0.0
        return max(0.0, failures[0] + FAILURE_WINDOW - now)

    def failed(self, client: str) -> None:
        """Count a wrong token from ``client`` (the last ``FAILURE_LIMIT`` are kept)."""
        failures = self._failures.get(client)
        if failures is None:
            if len(self._failures) >= MAX_CLIENTS:  # many addresses: forget the oldest
                self._failures.pop(next(iter(self._failures)))
            failures = self._failures[client] = deque(maxlen=FAILURE_LIMIT)
        failures.append(self.clock())

    async def owner(self, token: str) -> TokenOwner | None:
        """Who ``token`` belongs to, or None."""
        if self.bootstrap_token and same_token(token, self.bootstrap_token):
            return TokenOwner("RINGFLOW_ADMIN_TOKEN")
        now = self.clock()
        known = self._known.get(token)
        if known is not None and known[1] > now:
            return known[0]
        owner = await self.db.read(lambda conn: token_owner(conn, token))
        if owner is not None:
            self._known[token] = (owner, now + KNOWN_FOR)
            while len(self._known) > 1000:
                self._known.popitem(last=False)
        return owner


def auth_middleware(
    gatekeeper_of: Callable[[web.Request], Gatekeeper],
    agents_may: Callable[[web.Request], bool] = lambda _request: False,
    scopes_of: Callable[[web.Request], frozenset[str]] = lambda _request: frozenset(),
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware of the ``/api`` application (see the module docstring);
    ``gatekeeper_of`` finds the request's :class:`Gatekeeper` (made once the database is
    open); ``agents_may`` says whether an agent token may make this request, ``scopes_of``
    which scopes' tokens may."""

    async def admitted(
        request: web.Request,
        owner: TokenOwner,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if owner.is_agent and not agents_may(request):
            raise ApiProblem(
                403, "an agent token may only list and act on conversations (and its status)"
            )
        if owner.scopes is not None and not owner.scopes & scopes_of(request):
            raise ApiProblem(
                403,
                f"a token scoped to {' '.join(sorted(owner.scopes))} may not call this operation",
            )
        request[TOKEN_OWNER] = owner.name
        request[CALLER] = owner
        return await handler(request)

    @web.middleware
    async def check_token(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        gatekeeper = gatekeeper_of(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        sessions = gatekeeper.sessions
        if not token.strip() and sessions is not None and sessions.secret_of(request):
            session = await sessions.current(request)
            if session is None:
                raise ApiProblem(401, "the browser session ended: sign in again")
            refused = sessions.refusal(request, session)
            if refused is not None:
                log.warning("API: refused %s %s: %s", request.method, request.path, refused)
                raise ApiProblem(403, refused)
            return await admitted(request, session.owner, handler)
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiProblem(
                401,
                "this API needs a token: send `Authorization: Bearer <token>`"
                " (make one with `ringflow token create NAME`)",
                headers={"WWW-Authenticate": 'Bearer realm="ringflow"'},
            )
        owner = await gatekeeper.owner(token.strip())
        if owner is not None:
            return await admitted(request, owner, handler)
        client = gatekeeper.clients.of(request)
        already_blocked = gatekeeper.blocked_for(client) > 0
        gatekeeper.failed(client)
        wait = gatekeeper.blocked_for(client)
        if already_blocked:
            raise ApiProblem(
                429,
                "too many requests with a wrong token; try again later",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        if wait > 0:
            log.warning(
                "API: %d wrong tokens from %s within %d s; its wrong tokens get 429 for %d s",
                FAILURE_LIMIT,
                client,
                FAILURE_WINDOW,
                wait,
            )
        else:
            log.warning("API: wrong token from %s for %s %s", client, request.method, request.path)
        raise ApiProblem(
            401,
            "the token is not valid (unknown or revoked)",
            headers={"WWW-Authenticate": 'Bearer realm="ringflow", error="invalid_token"'},
        )

    return check_token
