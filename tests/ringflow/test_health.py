"""``/healthz`` says the process answers; ``/readyz`` says whether it can serve: the database
reachable and writable, the schema current, the job worker alive. Neither says what the
installation holds."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import Connection, text

from server import JOB_WORKER
from tests.conftest import RunningServer, ServerFactory


async def get(server: RunningServer, path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.base_url + path) as response,
    ):
        return response.status, await response.json()


async def test_a_running_server_is_alive_and_ready_and_tells_nothing_else(
    servers: ServerFactory,
) -> None:
    server = await servers.start()
    assert await get(server, "/healthz") == (200, {"status": "ok"})
    status, body = await get(server, "/readyz")
    assert status == 200
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "job worker": "ok"},
    }
    assert "demo-line" not in str(body), "no workflow ids"


async def test_without_a_worker_in_the_process_there_is_none_to_check(
    servers: ServerFactory,
) -> None:
    server = await servers.start(worker=False)
    status, body = await get(server, "/readyz")
    assert status == 200
    assert body["checks"] == {"database": "ok", "schema": "ok"}


async def test_not_ready_once_the_job_worker_has_stopped(servers: ServerFactory) -> None:
    server = await servers.start()
    await server.app[JOB_WORKER].stop()

    status, body = await get(server, "/readyz")
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["job worker"] == "stopped"
    assert await get(server, "/healthz") == (200, {"status": "ok"}), "still alive"


def set_revision(revision: str) -> Any:
    def work(conn: Connection) -> None:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})

    return work


async def test_not_ready_while_the_schema_is_behind_or_ahead_of_the_code(
    servers: ServerFactory,
) -> None:
    server = await servers.start()
    await server.db.write(set_revision("0001"))
    status, body = await get(server, "/readyz")
    assert (status, body["checks"]["schema"]) == (503, "not upgraded")
    assert body["checks"]["database"] == "ok"

    await server.db.write(set_revision("ffffffffffff"))
    status, body = await get(server, "/readyz")
    assert (status, body["checks"]["schema"]) == (503, "newer than this code")
