"""Job housekeeping: finished jobs deleted after the retention period (by the worker, in small
batches, by its clock); dead jobs listed, retried and cancelled, each change made once."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import Connection

from ringflow.database import Database
from tests.clock import FrozenClock
from tests.conftest import eventually
from tests.workflows.jobs.conftest import job_row, job_rows
from workflows.jobs import ClaimedJob, JobWorker, PermanentJobError, RetryPolicy, claim, enqueue
from workflows.jobs.housekeeping import (
    JobNotDead,
    JobNotFound,
    cancel_dead,
    dead_jobs,
    purge_finished,
    retry_dead,
)
from workflows.jobs.queue import complete, give_up

RETENTION = timedelta(days=14)
LEASE = timedelta(seconds=60)


async def finished_job(
    db: Database, clock: FrozenClock, key: str, outcome: str, kind: str = "send_sms"
) -> int:
    """A job enqueued, claimed and then done or dead at the clock's now."""
    now = clock()

    def work(conn: Connection) -> int:
        job_id = enqueue(conn, kind, {"n": key}, dedupe_key=key, now=now)
        assert job_id is not None
        claimed = claim(conn, "w0", limit=1, now=now, lease=LEASE)
        assert [job.id for job in claimed] == [job_id]
        if outcome == "done":
            assert complete(conn, job_id, "w0", now=now)
        else:
            assert give_up(conn, job_id, "w0", "provider said no", now=now)
        return job_id

    return await db.write(work)


async def queued_job(db: Database, clock: FrozenClock, key: str) -> int:
    now = clock()
    job_id = await db.write(lambda conn: enqueue(conn, "send_sms", {}, dedupe_key=key, now=now))
    assert job_id is not None
    return job_id


async def test_only_jobs_finished_longer_ago_than_the_retention_are_deleted(
    db: Database, clock: FrozenClock
) -> None:
    old_done = await finished_job(db, clock, "old-done", "done")
    old_dead = await finished_job(db, clock, "old-dead", "dead")
    old_cancelled = await finished_job(db, clock, "old-cancelled", "dead")
    await db.write(lambda conn: cancel_dead(conn, old_cancelled, now=clock()))
    clock.advance(timedelta(days=10))
    recent_done = await finished_job(db, clock, "recent-done", "done")
    waiting = await queued_job(db, clock, "waiting")
    clock.advance(timedelta(days=5))  # the old ones finished 15 days ago, the recent one 5

    deleted = await db.write(lambda conn: purge_finished(conn, before=clock() - RETENTION))

    assert deleted == 2
    assert set(await job_rows(db)) == {old_dead, recent_done, waiting}
    assert old_done not in await job_rows(db)


async def test_a_purge_deletes_at_most_one_batch_oldest_first(
    db: Database, clock: FrozenClock
) -> None:
    ids = []
    for number in range(5):
        ids.append(await finished_job(db, clock, f"done-{number}", "done"))
        clock.advance(timedelta(minutes=1))
    clock.advance(RETENTION)
    before = clock() - RETENTION

    assert await db.write(lambda conn: purge_finished(conn, before=before, limit=2)) == 2
    assert set(await job_rows(db)) == set(ids[2:])
    assert await db.write(lambda conn: purge_finished(conn, before=before, limit=2)) == 2
    assert await db.write(lambda conn: purge_finished(conn, before=before, limit=2)) == 1
    assert await job_rows(db) == {}


async def test_dead_jobs_are_listed_latest_first_and_by_kind(
    db: Database, clock: FrozenClock
) -> None:
    first = await finished_job(db, clock, "a", "dead")
    clock.advance(timedelta(seconds=5))
    second = await finished_job(db, clock, "b", "dead", kind="run_timer")
    await finished_job(db, clock, "c", "done")
    await queued_job(db, clock, "d")

    listed = await db.read(lambda conn: dead_jobs(conn))
    assert [job.id for job in listed] == [second, first]
    assert listed[1].last_error == "provider said no"
    assert listed[1].status == "dead"
    timers = await db.read(lambda conn: dead_jobs(conn, kind="run_timer"))
    assert [job.id for job in timers] == [second]
    assert [job.id for job in await db.read(lambda conn: dead_jobs(conn, limit=1))] == [second]


async def test_a_retried_dead_job_is_due_now_with_all_its_attempts(
    db: Database, clock: FrozenClock
) -> None:
    job_id = await finished_job(db, clock, "a", "dead")
    clock.advance(timedelta(hours=1))

    job = await db.write(lambda conn: retry_dead(conn, job_id, now=clock()))

    assert (job.status, job.attempts, job.due_at, job.finished_at) == ("queued", 0, clock(), None)
    assert job.last_error == "provider said no"  # kept until the next attempt
    claimed = await db.write(lambda conn: claim(conn, "w1", limit=5, now=clock(), lease=LEASE))
    assert [(each.id, each.attempts) for each in claimed] == [(job_id, 1)]


async def test_a_job_that_is_not_dead_is_neither_retried_nor_cancelled(
    db: Database, clock: FrozenClock
) -> None:
    done = await finished_job(db, clock, "done", "done")
    waiting = await queued_job(db, clock, "waiting")
    for job_id, status in ((waiting, "queued"), (done, "done")):
        with pytest.raises(JobNotDead, match=f"is {status}, not dead"):
            await db.write(partial(retry_dead, job_id=job_id, now=clock()))
        with pytest.raises(JobNotDead, match=f"is {status}, not dead"):
            await db.write(partial(cancel_dead, job_id=job_id, now=clock()))
        assert (await job_row(db, job_id))["status"] == status
    with pytest.raises(JobNotFound):
        await db.write(lambda conn: retry_dead(conn, 999_999, now=clock()))


async def test_a_dead_job_is_retried_or_cancelled_once(db: Database, clock: FrozenClock) -> None:
    job_id = await finished_job(db, clock, "a", "dead")
    cancelled = await db.write(lambda conn: cancel_dead(conn, job_id, now=clock()))
    assert (cancelled.status, cancelled.finished_at) == ("cancelled", clock())
    with pytest.raises(JobNotDead, match="is cancelled"):
        await db.write(lambda conn: retry_dead(conn, job_id, now=clock()))
    with pytest.raises(JobNotDead, match="is cancelled"):
        await db.write(lambda conn: cancel_dead(conn, job_id, now=clock()))
    assert await db.write(lambda conn: claim(conn, "w1", limit=5, now=clock(), lease=LEASE)) == []


async def test_two_admins_retrying_at_once_revive_the_job_once(
    db: Database, clock: FrozenClock
) -> None:
    job_id = await finished_job(db, clock, "a", "dead")
    results = await asyncio.gather(
        *(db.write(lambda conn: retry_dead(conn, job_id, now=clock())) for _ in range(2)),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["JobNotDead", "JobRecord"]


class Failing:
    async def __call__(self, job: ClaimedJob) -> None:
        raise PermanentJobError("the number does not exist")


def sweeping_worker(db: Database, clock: FrozenClock, **options: object) -> JobWorker:
    return JobWorker(
        db,
        {"send_sms": Failing()},
        owner="w1",
        policy=RetryPolicy(),
        clock=clock,
        rng=random.Random(1),
        poll_interval=0.01,
        retention=RETENTION,
        **options,  # type: ignore[arg-type]
    )


async def test_the_worker_deletes_old_finished_jobs_in_batches_and_then_every_interval(
    db: Database, clock: FrozenClock
) -> None:
    start = FrozenClock(clock())
    for number in range(5):
        await finished_job(db, start, f"old-{number}", "done")
    kept_dead = await finished_job(db, start, "dead", "dead")
    clock.advance(RETENTION + timedelta(minutes=1))
    worker = sweeping_worker(db, clock, sweep_batch=2, sweep_interval=timedelta(minutes=10))
    running = asyncio.create_task(worker.run_until_stopped())
    try:
        # Batches of two, one after the other while the backlog lasts: all five go.
        await eventually(lambda: _rows_are(db, {kept_dead}), what="the backlog to be deleted")
        late = await finished_job(db, start, "late", "done")  # as old, but after the sweep
        await asyncio.sleep(0.2)  # many loops, but the interval has not passed by the clock
        assert late in await job_rows(db)
        clock.advance(timedelta(minutes=10))
        await eventually(lambda: _rows_are(db, {kept_dead}), what="the next sweep")
    finally:
        await worker.stop()
        await running


async def _rows_are(db: Database, ids: set[int]) -> bool:
    return set(await job_rows(db)) == ids


async def test_a_worker_without_retention_deletes_nothing(db: Database, clock: FrozenClock) -> None:
    job_id = await finished_job(db, clock, "old", "done")
    clock.advance(timedelta(days=3650))
    worker = JobWorker(db, {}, owner="w1", policy=RetryPolicy(), clock=clock)
    assert await worker.sweep() == 0
    assert job_id in await job_rows(db)
    with pytest.raises(ValueError, match="retention"):
        JobWorker(db, {}, owner="w1", policy=RetryPolicy(), retention=timedelta(0))
