"""The worker: outcomes of handlers, retries, resilience, stopping, and (on PostgreSQL) two
workers sharing one queue."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, func, select

from ringflow.database import Database, open_database
from tests.clock import FrozenClock
from tests.conftest import eventually
from tests.workflows.jobs.conftest import create_jobs_table, job_row, job_rows
from workflows.jobs import (
    ClaimedJob,
    GroupedWrite,
    JobHandler,
    JobWorker,
    PermanentJobError,
    RetryPolicy,
    TransientJobError,
    claim,
    enqueue,
    jobs,
)

T = TypeVar("T")
P = TypeVar("P")

CLOCK = FrozenClock()
NOW = CLOCK.now

POLICY = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=5))


class Recorder:
    """A handler that records its calls, raising ``failures`` one per call, in turn."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, job: ClaimedJob) -> None:
        self.calls.append((job.id, job.attempts))
        if self.failures:
            raise self.failures.pop(0)


def worker(
    db: Database, clock: FrozenClock, handlers: dict[str, JobHandler], **options: Any
) -> JobWorker:
    options.setdefault("poll_interval", 0.01)
    return JobWorker(
        db, handlers, owner="w1", policy=POLICY, clock=clock, rng=random.Random(3), **options
    )


async def add(
    db: Database, clock: FrozenClock, key: str, kind: str = "sms.send", **extra: Any
) -> int:
    job_id = await db.write(
        partial(enqueue, kind=kind, payload={}, dedupe_key=key, now=clock.now, **extra)
    )
    assert job_id is not None
    return job_id


async def test_a_transient_error_is_retried_with_backoff_then_done(
    db: Database, clock: FrozenClock
) -> None:
    handler = Recorder(TransientJobError("provider busy"))
    job_id = await add(db, clock, "text-1")
    jobs_worker = worker(db, clock, {"sms.send": handler})

    assert await jobs_worker.run_once() == 1
    row = await job_row(db, job_id)
    assert row["status"] == "queued"
    assert row["last_error"] == "TransientJobError: provider busy"
    assert clock.now <= row["due_at"] <= clock.now + POLICY.bound(1)
    assert row["due_at"] > clock.now
    assert await jobs_worker.run_once() == 0, "not due yet"

    clock.advance(POLICY.bound(1))
    assert await jobs_worker.run_once() == 1
    row = await job_row(db, job_id)
    assert (row["status"], row["attempts"]) == ("done", 2)
    assert handler.calls == [(job_id, 1), (job_id, 2)]


async def test_a_job_out_of_attempts_is_dead_with_the_last_error(
    db: Database, clock: FrozenClock
) -> None:
    handler = Recorder(RuntimeError("boom 1"), KeyError("boom 2"))
    job_id = await add(db, clock, "text-2", max_attempts=2)
    jobs_worker = worker(db, clock, {"sms.send": handler})
    assert await jobs_worker.run_once() == 1
    clock.advance(POLICY.bound(1))
    assert await jobs_worker.run_once() == 1
    row = await job_row(db, job_id)
    assert row["status"] == "dead"
    assert row["last_error"] == "failed 2 times; last error: KeyError: 'boom 2'"
    clock.advance(timedelta(days=1))
    assert await jobs_worker.run_once() == 0


async def test_a_permanent_error_kills_the_job_at_once(db: Database, clock: FrozenClock) -> None:
    handler = Recorder(PermanentJobError("recipient unsubscribed (21610)"))
    job_id = await add(db, clock, "text-3")
    assert await worker(db, clock, {"sms.send": handler}).run_once() == 1
    row = await job_row(db, job_id)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["last_error"] == "PermanentJobError: recipient unsubscribed (21610)"


async def test_a_job_of_an_unknown_kind_is_dead(db: Database, clock: FrozenClock) -> None:
    job_id = await add(db, clock, "mystery", kind="fax.send")
    assert await worker(db, clock, {"sms.send": Recorder()}).run_once() == 1
    row = await job_row(db, job_id)
    assert (row["status"], row["last_error"]) == ("dead", "no handler for kind fax.send")


async def test_a_job_whose_last_attempt_was_lost_is_dead(db: Database, clock: FrozenClock) -> None:
    handler = Recorder()
    job_id = await add(db, clock, "once", max_attempts=1)
    lease = timedelta(seconds=60)
    await db.write(partial(claim, owner="crashed", limit=1, now=clock.now, lease=lease))
    clock.advance(lease + timedelta(seconds=1))
    assert await worker(db, clock, {"sms.send": handler}).run_once() == 1
    assert handler.calls == [], "it had its one attempt"
    row = await job_row(db, job_id)
    assert row["status"] == "dead"
    assert "worker was lost" in row["last_error"]


async def test_a_handler_that_outlives_its_lease_is_cancelled_and_retried(
    db: Database, clock: FrozenClock
) -> None:
    async def hangs(job: ClaimedJob) -> None:
        await asyncio.sleep(10)

    job_id = await add(db, clock, "hang")
    jobs_worker = worker(db, clock, {"sms.send": hangs}, lease=timedelta(seconds=0.05))
    assert await jobs_worker.run_once() == 1
    row = await job_row(db, job_id)
    assert (row["status"], row["last_error"]) == ("queued", "TimeoutError")


class LateAnswers:
    """``db``, whose writes are answered ``delay`` seconds after they committed: a database
    (or a process) too busy to deliver the claim's result at once."""

    def __init__(self, db: Database, delay: float) -> None:
        self._db = db
        self.url = db.url
        self.delay = delay

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await self._db.read(work)

    async def write(self, work: Callable[[Connection], T]) -> T:
        result = await self._db.write(work)
        await asyncio.sleep(self.delay)
        return result

    async def write_batched(self, batch: Callable[[Connection, list[P]], list[T]], item: P) -> T:
        return await self._db.write_batched(batch, item)

    def observe_writes(self, observe: Callable[[float], None]) -> None:
        self._db.observe_writes(observe)

    async def check(self) -> None:
        await self._db.check()

    async def close(self) -> None:
        """Nothing: the database it wraps belongs to the test."""


async def test_the_lease_counts_from_the_claim_not_from_its_late_answer(
    db: Database, clock: FrozenClock
) -> None:
    """The claim's lease expires at the claim's ``now`` + lease; a handler whose claim was
    answered after that must not start working as if it held the job: another worker may
    claim it by now. Here the answer comes twice the lease late, so the handler is cancelled
    at its first wait, however quick it is."""
    steps: list[str] = []

    async def quick(job: ClaimedJob) -> None:
        steps.append("started")
        await asyncio.sleep(0.05)
        steps.append("finished")

    job_id = await add(db, clock, "late-claim")
    lease = timedelta(seconds=0.5)
    late = LateAnswers(db, delay=2 * lease.total_seconds())
    assert await worker(late, clock, {"sms.send": quick}, lease=lease).run_once() == 1

    assert steps == ["started"]
    row = await job_row(db, job_id)
    assert (row["status"], row["last_error"]) == ("queued", "TimeoutError")


async def test_the_worker_survives_handlers_that_raise_anything(
    db: Database, clock: FrozenClock
) -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot even describe myself")

    done: list[int] = []

    async def raises(job: ClaimedJob) -> None:
        errors: list[Exception] = [ZeroDivisionError(), Weird(), ValueError("x"), OSError(5, "io")]
        raise errors[job.payload["n"]]

    async def works(job: ClaimedJob) -> None:
        done.append(job.id)

    for n in range(4):
        await db.write(
            partial(enqueue, kind="bad", payload={"n": n}, dedupe_key=f"bad-{n}", now=clock.now)
        )
    jobs_worker = worker(db, clock, {"bad": raises, "good": works}, concurrency=2, batch=2)
    running = asyncio.create_task(jobs_worker.run_until_stopped())
    good = await add(db, clock, "good-1", kind="good")
    jobs_worker.wake()
    await eventually(lambda: done == [good])

    def statuses(conn: Connection) -> Counter[str]:
        return Counter(conn.execute(select(jobs.c.status)).scalars())

    async def settled() -> bool:
        return await db.read(statuses) == Counter({"queued": 4, "done": 1})

    await eventually(settled)  # the bad ones wait for their retry
    assert not running.done()
    await jobs_worker.stop()
    await running
    assert (await job_row(db, 2))["last_error"] == "Weird: (unprintable)"


class FlakyDatabase:
    """A database whose first few writes fail."""

    def __init__(self, db: Database, failures: int) -> None:
        self.db, self.failures, self.url = db, failures, db.url

    async def read(self, work: Any) -> Any:
        return await self.db.read(work)

    async def write(self, work: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        return await self.db.write(work)

    async def write_batched(self, batch: Any, item: Any) -> Any:
        return await self.db.write_batched(batch, item)

    def observe_writes(self, observe: Any) -> None:
        self.db.observe_writes(observe)

    async def check(self) -> None:
        await self.db.check()

    async def close(self) -> None:
        await self.db.close()


async def test_the_worker_survives_database_errors(db: Database, clock: FrozenClock) -> None:
    handler = Recorder()
    job_id = await add(db, clock, "text-4")
    flaky = FlakyDatabase(db, failures=3)
    jobs_worker = worker(flaky, clock, {"sms.send": handler}, error_pause=0.01)
    running = asyncio.create_task(jobs_worker.run_until_stopped())
    await eventually(lambda: handler.calls)
    await jobs_worker.stop()
    await running
    assert (await job_row(db, job_id))["status"] == "done"


async def test_wake_runs_a_new_job_without_waiting_for_the_poll(
    db: Database, clock: FrozenClock
) -> None:
    handler = Recorder()
    jobs_worker = worker(db, clock, {"sms.send": handler}, poll_interval=60)
    running = asyncio.create_task(jobs_worker.run_until_stopped())
    await asyncio.sleep(0.05)  # the worker found nothing and sleeps for a minute
    job_id = await add(db, clock, "now")
    jobs_worker.wake()
    async with asyncio.timeout(2):
        await eventually(lambda: handler.calls == [(job_id, 1)])
        await jobs_worker.stop()
    await running


async def test_stop_waits_for_the_jobs_in_flight(db: Database, clock: FrozenClock) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def slow(job: ClaimedJob) -> None:
        started.set()
        await release.wait()
        finished.append(job.id)

    job_id = await add(db, clock, "slow")
    jobs_worker = worker(db, clock, {"sms.send": slow})
    running = asyncio.create_task(jobs_worker.run_until_stopped())
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(jobs_worker.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    assert not running.done()
    release.set()
    await asyncio.wait_for(stopping, 5)
    await running
    assert finished == [job_id]
    assert (await job_row(db, job_id))["status"] == "done"


async def test_a_worker_stopped_before_it_ran_does_not_start(
    db: Database, clock: FrozenClock
) -> None:
    handler = Recorder()
    await add(db, clock, "never")
    jobs_worker = worker(db, clock, {"sms.send": handler})
    await jobs_worker.stop()
    await asyncio.wait_for(jobs_worker.run_until_stopped(), 1)
    assert handler.calls == []


async def test_handlers_run_concurrently_up_to_the_limit(db: Database, clock: FrozenClock) -> None:
    active, peak = 0, 0

    async def tracked(job: ClaimedJob) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1

    for n in range(12):
        await add(db, clock, f"c-{n}")
    jobs_worker = worker(db, clock, {"sms.send": tracked}, concurrency=4, batch=20)
    assert await jobs_worker.run_once() == 12
    assert peak == 4


async def test_two_workers_on_two_pools_run_every_job_exactly_once(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent workers need PostgreSQL (SKIP LOCKED); SQLite runs one worker")
    total = 10_000  # as many as the issue asks two workers to claim
    first, second = await open_database(database_url), await open_database(database_url)
    try:
        await create_jobs_table(first)

        def enqueue_all(conn: Connection) -> None:
            for n in range(total):
                enqueue(conn, "count", {"n": n}, dedupe_key=f"job-{n}", now=NOW)

        await first.write(enqueue_all)
        seen: Counter[int] = Counter()
        by_worker: Counter[str] = Counter()

        def counting(owner: str) -> JobHandler:
            async def handle(job: ClaimedJob) -> None:
                seen[job.id] += 1
                by_worker[owner] += 1
                await asyncio.sleep(0)

            return handle

        workers = [
            JobWorker(
                db,
                {"count": counting(owner)},
                owner=owner,
                policy=POLICY,
                batch=10,
                concurrency=8,
                poll_interval=0.01,
            )
            for owner, db in (("a", first), ("b", second))
        ]
        tasks = [asyncio.create_task(w.run_until_stopped()) for w in workers]

        def unfinished(conn: Connection) -> int:
            query = select(func.count()).where(jobs.c.status != "done")
            return int(conn.execute(query).scalar_one())

        async def all_done() -> bool:
            return await first.read(unfinished) == 0

        await eventually(all_done, within=120)
        await asyncio.gather(*(w.stop() for w in workers))
        await asyncio.gather(*tasks)

        ids = await first.read(lambda conn: set(conn.execute(select(jobs.c.id)).scalars()))
        assert len(ids) == total
        assert set(seen) == ids, "no job missing"
        assert max(seen.values()) == 1, "no job run twice"
        assert by_worker["a"] > 0, "both workers took part"
        assert by_worker["b"] > 0, "both workers took part"
        assert by_worker["a"] + by_worker["b"] == total
    finally:
        await first.close()
        await second.close()


class CountingDatabase(FlakyDatabase):
    """A database that counts its write transactions."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, failures=0)
        self.writes = 0

    async def write(self, work: Any) -> Any:
        self.writes += 1
        return await self.db.write(work)


def effect_of(job_id: int) -> str:
    return f"effect-of-{job_id}"


async def effects(db: Database) -> set[str]:
    def read(conn: Connection) -> set[str]:
        keys = conn.execute(select(jobs.c.dedupe_key).where(jobs.c.kind == "effect")).scalars()
        return set(keys)

    return await db.read(read)


async def test_outcomes_of_jobs_ending_together_share_a_transaction(
    db: Database, clock: FrozenClock
) -> None:
    """Twenty jobs that end at the same moment: each one's final write and its completion
    are committed, in far fewer transactions than one per job."""
    release = asyncio.Event()

    async def with_effect(job: ClaimedJob) -> Callable[[Connection], object]:
        await release.wait()
        return partial(
            enqueue, kind="effect", payload={}, dedupe_key=effect_of(job.id), now=clock.now
        )

    ids = [await add(db, clock, f"together-{n}") for n in range(20)]
    counting = CountingDatabase(db)
    jobs_worker = worker(counting, clock, {"sms.send": with_effect}, batch=20, concurrency=20)
    running = asyncio.create_task(jobs_worker.run_once())
    await asyncio.sleep(0.1)
    release.set()
    assert await running == 20

    rows = await job_rows(db)
    assert {rows[job_id]["status"] for job_id in ids} == {"done"}
    assert all(rows[job_id]["finished_at"] is not None for job_id in ids)
    assert await effects(db) == {effect_of(job_id) for job_id in ids}
    assert counting.writes <= 3, f"a claim and {counting.writes - 1} outcome transactions"


async def test_a_final_write_that_fails_fails_its_own_job_only(
    db: Database, clock: FrozenClock
) -> None:
    """In a batch, one job's final write raises: the others' writes and completions are
    committed; that job is retried with backoff and its write left nothing behind."""
    release = asyncio.Event()
    ids = [await add(db, clock, f"batch-{n}") for n in range(6)]
    bad = ids[2]

    def failing(conn: Connection) -> None:
        enqueue(conn, "effect", {}, dedupe_key=effect_of(bad), now=clock.now)
        raise RuntimeError("constraint violated")

    async def handler(job: ClaimedJob) -> Callable[[Connection], object]:
        await release.wait()
        if job.id == bad:
            return failing
        return partial(
            enqueue, kind="effect", payload={}, dedupe_key=effect_of(job.id), now=clock.now
        )

    jobs_worker = worker(db, clock, {"sms.send": handler}, batch=6, concurrency=6)
    running = asyncio.create_task(jobs_worker.run_once())
    await asyncio.sleep(0.1)
    release.set()
    assert await running == 6

    rows = await job_rows(db)
    assert {job_id: rows[job_id]["status"] for job_id in ids} == {
        job_id: "queued" if job_id == bad else "done" for job_id in ids
    }
    assert rows[bad]["last_error"] == "RuntimeError: constraint violated"
    assert clock.now < rows[bad]["due_at"] <= clock.now + POLICY.bound(1)
    assert await effects(db) == {effect_of(job_id) for job_id in ids if job_id != bad}


async def test_a_final_write_that_fails_for_good_kills_its_job(
    db: Database, clock: FrozenClock
) -> None:
    async def handler(job: ClaimedJob) -> Callable[[Connection], object]:
        def refuse(conn: Connection) -> None:
            raise PermanentJobError("the conversation is gone")

        return refuse

    job_id = await add(db, clock, "doomed")
    assert await worker(db, clock, {"sms.send": handler}).run_once() == 1
    row = await job_row(db, job_id)
    assert (row["status"], row["last_error"]) == (
        "dead",
        "PermanentJobError: the conversation is gone",
    )


async def test_grouped_final_writes_of_a_batch_are_applied_together(
    db: Database, clock: FrozenClock
) -> None:
    """Jobs whose final writes share an ``apply`` get it called once for all their items,
    committed with their completions."""
    release = asyncio.Event()
    calls: list[list[int]] = []

    def effects_of(conn: Connection, job_ids: list[int]) -> None:
        calls.append(sorted(job_ids))
        for job_id in job_ids:
            enqueue(conn, "effect", {}, dedupe_key=effect_of(job_id), now=clock.now)

    async def grouped(job: ClaimedJob) -> GroupedWrite[int]:
        await release.wait()
        return GroupedWrite(effects_of, job.id)

    ids = [await add(db, clock, f"grouped-{n}") for n in range(8)]
    jobs_worker = worker(db, clock, {"sms.send": grouped}, batch=8, concurrency=8)
    running = asyncio.create_task(jobs_worker.run_once())
    await asyncio.sleep(0.1)
    release.set()
    assert await running == 8

    assert calls == [sorted(ids)]
    assert await effects(db) == {effect_of(job_id) for job_id in ids}
    assert {
        row["status"] for row in (await job_rows(db)).values() if row["kind"] == "sms.send"
    } == {"done"}
