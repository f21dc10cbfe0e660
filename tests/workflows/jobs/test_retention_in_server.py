"""A running server's worker deletes finished jobs after RINGFLOW_JOB_RETENTION_DAYS, by the
server's clock, and keeps dead ones and recent ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection

from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually
from workflows.jobs import claim, complete, enqueue, give_up
from workflows.jobs.housekeeping import job_by_id


async def test_the_server_worker_deletes_jobs_finished_before_the_retention(
    servers: ServerFactory,
) -> None:
    clock = MovableClock()
    server = await servers.start(clock=clock, job_retention_days=2)
    lease = timedelta(seconds=60)

    def finished(conn: Connection, key: str, outcome: str, days_ago: float) -> int:
        then = clock() - timedelta(days=days_ago)
        job_id = enqueue(conn, "never_run_here", {}, dedupe_key=key, now=then)
        assert job_id is not None
        claim(conn, "elsewhere", limit=1, now=then, lease=lease)
        if outcome == "done":
            assert complete(conn, job_id, "elsewhere", now=then)
        else:
            assert give_up(conn, job_id, "elsewhere", "boom", now=then)
        return job_id

    old = await server.db.write(lambda conn: finished(conn, "old", "done", 3))
    dead = await server.db.write(lambda conn: finished(conn, "dead", "dead", 30))
    recent = await server.db.write(lambda conn: finished(conn, "recent", "done", 1))

    async def gone(job_id: int) -> bool:
        return await server.db.read(lambda conn: job_by_id(conn, job_id)) is None

    clock.advance(timedelta(minutes=11))  # past the sweep interval, whenever the first ran
    await eventually(lambda: gone(old), what="the old job to be deleted")
    assert not await gone(dead)
    assert not await gone(recent)
