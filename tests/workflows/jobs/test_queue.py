"""The queue's statements on both databases: enqueue, claim, fenced outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Connection

from ringflow.database import Database
from tests.workflows.jobs.conftest import T0, job_row, job_rows
from workflows.jobs import claim, complete, enqueue, give_up, retry_later

LEASE = timedelta(seconds=30)


async def add(db: Database, key: str, *, due_at: datetime = T0, max_attempts: int = 8) -> int:
    job_id = await maybe_add(db, key, due_at=due_at, max_attempts=max_attempts)
    assert job_id is not None
    return job_id


async def maybe_add(
    db: Database, key: str, *, due_at: datetime = T0, max_attempts: int = 8
) -> int | None:
    job = partial(enqueue, kind="sms.send", payload={"key": key}, dedupe_key=key, now=T0)
    return await db.write(partial(job, due_at=due_at, max_attempts=max_attempts))


async def take(db: Database, owner: str, at: datetime, limit: int = 10) -> list[int]:
    claimed = await db.write(partial(claim, owner=owner, limit=limit, now=at, lease=LEASE))
    return [job.id for job in claimed]


async def test_a_second_enqueue_with_the_same_key_is_a_no_op(db: Database) -> None:
    first = await add(db, "reminder:run-1")
    second = await maybe_add(db, "reminder:run-1", due_at=T0 + timedelta(hours=1))
    assert second is None
    rows = await job_rows(db)
    assert list(rows) == [first]
    assert rows[first]["due_at"] == T0, "the first job stands"
    assert rows[first]["status"] == "queued"
    assert rows[first]["attempts"] == 0


async def test_a_job_enqueued_by_a_failed_write_does_not_exist(db: Database) -> None:
    def record_event_then_fail(conn: Connection) -> None:
        enqueue(conn, "sms.send", {"to": "+15550100"}, dedupe_key="doomed", due_at=T0, now=T0)
        raise ValueError("the event could not be stored")

    with pytest.raises(ValueError, match="could not be stored"):
        await db.write(record_event_then_fail)
    assert await job_rows(db) == {}
    assert await maybe_add(db, "doomed") is not None, "its key is free: nothing was kept"


async def test_a_job_is_not_claimed_before_it_is_due(db: Database) -> None:
    job_id = await add(db, "later", due_at=T0 + timedelta(minutes=10))
    assert await take(db, "w1", T0) == []
    assert await take(db, "w1", T0 + timedelta(minutes=9, seconds=59)) == []
    assert await take(db, "w1", T0 + timedelta(minutes=10)) == [job_id]


async def test_claim_takes_at_most_limit_oldest_due_first(db: Database) -> None:
    offsets = [3, 1, 4, 2, 5]  # minutes before T0, enqueued out of order
    ids = {m: await add(db, f"job-{m}", due_at=T0 - timedelta(minutes=m)) for m in offsets}
    claimed = await db.write(partial(claim, owner="w1", limit=3, now=T0, lease=LEASE))
    assert [job.id for job in claimed] == [ids[5], ids[4], ids[3]]
    first = claimed[0]
    assert (first.kind, first.payload, first.dedupe_key) == ("sms.send", {"key": "job-5"}, "job-5")
    assert (first.attempts, first.max_attempts) == (1, 8)
    assert first.due_at == T0 - timedelta(minutes=5)
    row = await job_row(db, first.id)
    assert row["status"] == "running"
    assert row["lease_owner"] == "w1"
    assert row["lease_expires_at"] == T0 + LEASE
    assert await take(db, "w2", T0) == [ids[2], ids[1]]
    assert await take(db, "w3", T0) == []


async def test_an_expired_lease_is_claimed_again_and_fences_out_its_old_owner(
    db: Database,
) -> None:
    job_id = await add(db, "slow")
    assert await take(db, "w1", T0) == [job_id]
    assert await take(db, "w2", T0 + LEASE) == [], "the lease still holds at its last instant"
    later = T0 + LEASE + timedelta(seconds=1)
    reclaimed = await db.write(partial(claim, owner="w2", limit=5, now=later, lease=LEASE))
    assert [(job.id, job.attempts) for job in reclaimed] == [(job_id, 2)]

    assert await db.write(partial(complete, job_id=job_id, owner="w1", now=T0)) is False
    assert await db.write(partial(give_up, job_id=job_id, owner="w1", now=T0, reason="x")) is False
    assert await db.write(partial(complete, job_id=job_id, owner="w2", now=T0, attempt=1)) is False
    assert await db.write(partial(complete, job_id=job_id, owner="w2", now=T0, attempt=2)) is True
    row = await job_row(db, job_id)
    assert row["status"] == "done"
    assert row["finished_at"] is not None
    assert await db.write(partial(complete, job_id=job_id, owner="w2", now=T0)) is False, (
        "done is final"
    )


async def test_retry_later_requeues_and_give_up_keeps_the_reason(db: Database) -> None:
    job_id = await add(db, "flaky", max_attempts=3)
    await take(db, "w1", T0)
    due = T0 + timedelta(seconds=7)
    retried = partial(retry_later, job_id=job_id, owner="w1", now=T0, error="timeout", due_at=due)
    assert await db.write(retried) is True
    row = await job_row(db, job_id)
    assert (row["status"], row["due_at"], row["last_error"]) == ("queued", due, "timeout")
    assert row["lease_owner"] is None
    assert row["lease_expires_at"] is None
    assert await db.write(retried) is False, "no longer running"

    assert await take(db, "w1", due) == [job_id]
    assert await db.write(partial(give_up, job_id=job_id, owner="w1", now=T0, reason="bad number"))
    row = await job_row(db, job_id)
    assert (row["status"], row["last_error"], row["attempts"]) == ("dead", "bad number", 2)
    assert await take(db, "w1", T0 + timedelta(days=1)) == [], "dead jobs stay dead"


async def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await add(db, "naive", due_at=datetime(2026, 1, 1))
