"""``/healthz`` (liveness) and ``/readyz`` (readiness), for load balancers and orchestrators.

* ``GET /healthz``: 200 ``{"status": "ok"}`` as long as the process runs and its event loop
  answers. It touches nothing else, so it answers at once even while the database is slow or
  another process holds SQLite's write lock. A failing liveness check means "restart me".
* ``GET /readyz``: 200 when this instance can serve: the database is reachable and takes
  writes (PostgreSQL: not a read-only standby; SQLite: its writer thread is alive and not
  stuck), the schema is at this code's revision, and the background tasks the instance runs
  (the job worker) are alive; else 503 with the checks that failed. It never waits for a
  write lock (SQLite's writer is asked, not used) and gives up after ``READY_BOUND_SECONDS``.
  A failing readiness check means "send no traffic here".

Neither lists the workflows or anything else about the installation; the checks say only
``ok`` or what is wrong. Changes of readiness are logged once, with the details.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from aiohttp import web
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from ringflow.database import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

READY_BOUND_SECONDS = 2.0
"""Longest ``/readyz`` waits for the database before it says it is not reachable."""


def _database_state(conn: Connection) -> tuple[str | None, bool]:
    """The schema's revision, and whether this connection may write."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if conn.dialect.name == "postgresql":
        read_only = conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
    else:
        read_only = bool(conn.exec_driver_sql("PRAGMA query_only").scalar())
    return revision, not read_only


class Readiness:
    """What ``/readyz`` checks: the database (once open), the schema revision this code
    expects (``head``, among the ``known`` ones), and tasks that must stay alive."""

    def __init__(self, head: str, known: Collection[str]) -> None:
        self._head = head
        self._known = frozenset(known)
        self._db: Database | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._last: dict[str, str] | None = None

    def use_database(self, db: Database) -> None:
        """Check ``db`` from now on."""
        self._db = db

    def watch(self, name: str, task: asyncio.Task[None]) -> None:
        """Not ready once ``task`` (e.g. the job worker) has ended."""
        self._tasks[name] = task

    async def checks(self) -> dict[str, str]:
        """Each check's result: ``ok`` or what is wrong."""
        results = {"database": "ok", "schema": "ok"}
        db = self._db
        if db is None:
            results["database"] = results["schema"] = "not open yet"
        else:
            try:
                async with asyncio.timeout(READY_BOUND_SECONDS):
                    await db.check()
                    revision, writable = await db.read(_database_state)
            except TimeoutError:
                results["database"] = results["schema"] = "no answer in time"
            except DatabaseUnavailable as problem:  # SQLite's writer: dead or stuck
                results["database"], results["schema"] = str(problem), "unknown"
            except Exception as error:
                results["database"] = results["schema"] = "unreachable"
                log.debug("readiness: database check failed: %s", error)
            else:
                if not writable:
                    results["database"] = "read-only"
                if revision != self._head:
                    ahead = revision is not None and revision not in self._known
                    results["schema"] = "newer than this code" if ahead else "not upgraded"
        for name, task in self._tasks.items():
            results[name] = "stopped" if task.done() else "ok"
        return results

    async def report(self) -> tuple[bool, dict[str, str]]:
        """Whether every check passed, and the checks; a change is logged."""
        results = await self.checks()
        ready = all(value == "ok" for value in results.values())
        if results != self._last:
            if not ready:
                log.warning("not ready: %s", ", ".join(f"{k}: {v}" for k, v in results.items()))
            elif self._last is not None:
                log.info("ready again")
            self._last = results
        return ready, results


READINESS = web.AppKey("readiness", Readiness)


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process and its event loop answer."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: 200 when this instance can serve, else 503 with what is wrong."""
    ready, results = await request.app[READINESS].report()
    body = {"status": "ready" if ready else "unavailable", "checks": results}
    return web.json_response(body, status=200 if ready else 503)


def health_routes() -> list[web.AbstractRouteDef]:
    """``/healthz`` and ``/readyz``."""
    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
