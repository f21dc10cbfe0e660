"""A handler can hold its job back (JobDeferred) without spending any of its attempts."""

from __future__ import annotations

import random
from datetime import timedelta
from functools import partial

import pytest

from ringflow.database import Database
from tests.clock import FrozenClock
from tests.workflows.jobs.conftest import job_row
from workflows.jobs import ClaimedJob, JobDeferred, JobWorker, RetryPolicy, enqueue


class HeldBack:
    """Defers its job ``times`` times by an hour, then completes it."""

    def __init__(self, clock: FrozenClock, times: int) -> None:
        self.clock = clock
        self.times = times
        self.attempts: list[int] = []

    async def __call__(self, job: ClaimedJob) -> None:
        self.attempts.append(job.attempts)
        if len(self.attempts) <= self.times:
            raise JobDeferred(self.clock.now + timedelta(hours=1), "quiet hours")


async def test_a_deferred_job_runs_at_the_time_named_and_keeps_its_attempts(
    db: Database, clock: FrozenClock
) -> None:
    job_id = await db.write(
        partial(enqueue, kind="sms.send", payload={}, dedupe_key="k", max_attempts=2, now=clock())
    )
    assert job_id is not None
    handler = HeldBack(clock, times=5)
    worker = JobWorker(
        db,
        {"sms.send": handler},
        owner="w1",
        policy=RetryPolicy(),
        clock=clock,
        rng=random.Random(1),
    )

    for _ in range(5):  # five deferrals: more than max_attempts, and the job is not dead
        assert await worker.run_once() == 1
        row = await job_row(db, job_id)
        assert (row["status"], row["attempts"]) == ("queued", 0)
        assert row["due_at"] == clock.now + timedelta(hours=1)
        assert row["last_error"] == "quiet hours"
        assert await worker.run_once() == 0, "not due before the time it was deferred to"
        clock.advance(timedelta(hours=1))

    assert await worker.run_once() == 1
    row = await job_row(db, job_id)
    assert (row["status"], row["attempts"]) == ("done", 1)
    assert handler.attempts == [1] * 6


def test_a_deferral_needs_an_aware_time(clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        JobDeferred(clock.now.replace(tzinfo=None), "quiet hours")
