"""``GET /healthz``: how the resources are, for load balancers and supervisors."""

from __future__ import annotations

import logging

from aiohttp import web

from ringflow.resources.catalog import CATALOG
from ringflow.resources.database import DATABASE

log = logging.getLogger("ringflow")


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: 200 when the database can take work, 503 when it is unreachable or
    (SQLite) its writer has died or is stuck. Never waits for a write lock."""
    try:
        await request.app[DATABASE].check()
    except Exception as error:
        log.warning("health check: database unavailable: %s", error)
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    workflows = [active.workflow.id for active in request.app[CATALOG].active]
    return web.json_response({"status": "ok", "database": "up", "workflows": workflows})
