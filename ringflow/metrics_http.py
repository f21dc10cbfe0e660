"""Who may read the metrics, and where: ``/metrics`` on the server's port behind a token, or
a separate listener without one.

* ``/metrics`` on the server's own port needs ``Authorization: Bearer`` with
  ``RINGFLOW_METRICS_TOKEN`` or an admin API token: 401 without one, 403 for a wrong one
  (wrong ones count toward the admin API's per-client limit; past it, 429).
* ``RINGFLOW_METRICS_LISTEN`` (``HOST:PORT``) adds a listener that serves ``/metrics``, and
  nothing else, without a token, for a scraper on a private network; it is off unless set, and
  a warning is logged when it is bound to an address that is neither loopback nor private.

Nothing is open to everyone by default. The scrape speaks the format the scraper's ``Accept``
header asks for (Prometheus's text format 0.0.4 when it names none the library knows).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from ringflow.admin.auth import Gatekeeper
from ringflow.admin.tokens import same_token
from ringflow.metrics import METRICS, Metrics

log = logging.getLogger(__name__)


async def exposition(metrics: Metrics, accept: str) -> web.Response:
    """The scrape: the jobs' counts read, then every metric in the format ``accept`` asks for."""
    await metrics.read_jobs()
    encode, content_type = choose_encoder(accept)
    return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type})


METRICS_ACCESS: web.AppKey[MetricsAccess] = web.AppKey("metrics_access")


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    """Who may read ``/metrics`` on the main port: the metrics token, or an admin API token
    (checked by the admin API's gatekeeper, once the database is open)."""

    token: str | None
    gatekeeper: Callable[[], Gatekeeper | None]


async def metrics_with_token(request: web.Request) -> web.Response:
    """``GET /metrics`` on the server's port: with a metrics or admin token only."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise web.HTTPUnauthorized(
            text="metrics need a token: send `Authorization: Bearer <RINGFLOW_METRICS_TOKEN>`",
            headers={"WWW-Authenticate": 'Bearer realm="ringflow-metrics"'},
        )
    access = request.app[METRICS_ACCESS]
    if access.token is not None and same_token(token, access.token):
        return await exposition(request.app[METRICS], request.headers.get("Accept", ""))
    gatekeeper = access.gatekeeper()
    if gatekeeper is not None and await gatekeeper.owner(token) is not None:
        return await exposition(request.app[METRICS], request.headers.get("Accept", ""))
    if gatekeeper is not None:
        client = gatekeeper.clients.of(request)
        blocked = gatekeeper.blocked_for(client) > 0
        gatekeeper.failed(client)
        if blocked:
            wait = int(gatekeeper.blocked_for(client)) + 1
            raise web.HTTPTooManyRequests(
                text="too many wrong tokens; try again later", headers={"Retry-After": str(wait)}
            )
        log.warning("metrics: wrong token from %s", client)
    raise web.HTTPForbidden(text="this token may not read metrics")


def metrics_routes() -> list[web.AbstractRouteDef]:
    """``/metrics`` for the server's own port (behind a token)."""
    return [web.get("/metrics", metrics_with_token)]


async def _metrics_open(request: web.Request) -> web.Response:
    return await exposition(request.app[METRICS], request.headers.get("Accept", ""))


def _private(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name: who reaches it is not known here
    return address.is_loopback or (address.is_private and not address.is_unspecified)


@contextlib.asynccontextmanager
async def metrics_listener(
    metrics: Metrics, address: tuple[str, int] | None
) -> AsyncIterator[None]:
    """While inside: ``GET /metrics`` without a token on ``address`` (nothing when None).
    Used by ``ringflow serve`` and ``ringflow worker`` alike."""
    if address is None:
        yield
        return
    if not _private(address[0]):
        log.warning(
            "metrics: RINGFLOW_METRICS_LISTEN %s is not a loopback or private address: anyone"
            " who reaches it reads the metrics without a token",
            address[0],
        )
    app = web.Application()
    app[METRICS] = metrics
    app.router.add_get("/metrics", _metrics_open)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, address[0], address[1]).start()
        log.info("metrics: serving /metrics without a token on %s:%d", *address)
        yield
    finally:
        await runner.cleanup()


def metrics_listening(
    address: tuple[str, int] | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the app: the separate metrics listener on ``address``."""

    async def listening(app: web.Application) -> AsyncIterator[None]:
        async with metrics_listener(app[METRICS], address):
            yield

    return listening
