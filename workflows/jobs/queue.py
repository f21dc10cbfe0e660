"""The job queue's statements: enqueue, claim, and record an attempt's outcome.

Plain functions of a SQLAlchemy ``Connection``, run through ``ringflow.database`` like the rest
of the database code. ``enqueue`` belongs INSIDE the work function that records the event
causing the job, so that both commit together or neither does.

Claiming is one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING ...`` statement, with
``FOR UPDATE SKIP LOCKED`` in the sub-select on PostgreSQL, so that concurrent workers take
disjoint jobs without waiting for each other. (SQLite has no row locks and SQLAlchemy renders
``SKIP LOCKED`` as nothing there; its single writer makes the one statement atomic anyway.)
A claim takes a lease; a ``running`` job whose lease has expired (its worker died or hung) is
claimed again like a due one. Outcomes are fenced by the lease: a worker that lost its lease
cannot complete, retry or kill the job any more.

Times must be timezone-aware; they are stored in UTC (SQLite keeps them as naive UTC text,
which compares in time order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    bindparam,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ringflow.database import stored_time
from workflows.jobs.db import jobs

MAX_ERROR_LENGTH = 4000

_INSERTS = {
    "sqlite": sqlite.insert(jobs)
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(jobs.c.id),
    "postgresql": postgresql.insert(jobs)
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(jobs.c.id),
}


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job a worker holds the lease of.

    Delivery is at least once: a worker may die after a handler's side effect but before the
    job is marked done, and the job then runs again after its lease expires. Handlers make
    their side effects idempotent with ``dedupe_key`` (e.g. as the key of the message to send)
    and can tell a repeat by ``attempts`` (1 on the first claim).
    """

    id: int
    kind: str
    payload: dict[str, Any]
    dedupe_key: str
    attempts: int
    max_attempts: int
    due_at: datetime


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive times are refused (they would be stored as they are)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"job times must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def enqueue(
    conn: Connection,
    kind: str,
    payload: Mapping[str, Any],
    *,
    dedupe_key: str,
    due_at: datetime | None = None,
    max_attempts: int = 8,
    now: datetime,
) -> int | None:
    """Add a job due at ``due_at`` (default now); its id, or None if ``dedupe_key`` exists.

    Call it in the same transaction as the event that causes the job.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    moment = utc(now)
    row = {
        "kind": kind,
        "payload": dict(payload),
        "dedupe_key": dedupe_key,
        "status": "queued",
        "due_at": moment if due_at is None else utc(due_at),
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": moment,
        "updated_at": moment,
    }
    new_id = conn.execute(_INSERTS[conn.dialect.name], row).scalar_one_or_none()
    return None if new_id is None else int(new_id)


def _claim_statement(dialect: str) -> Any:
    due = (
        select(jobs.c.id)
        .where(
            or_(
                and_(jobs.c.status == "queued", jobs.c.due_at <= bindparam("now")),
                and_(jobs.c.status == "running", jobs.c.lease_expires_at < bindparam("now")),
            )
        )
        .order_by(jobs.c.due_at, jobs.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    return (
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(
            status="running",
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("lease_expires_at"),
            attempts=jobs.c.attempts + 1,
            updated_at=bindparam("now"),
        )
        .returning(
            jobs.c.id,
            jobs.c.kind,
            jobs.c.payload,
            jobs.c.dedupe_key,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.due_at,
        )
    )


# Built once: the claim runs every time a worker looks for work.
_CLAIM = {dialect: _claim_statement(dialect) for dialect in ("sqlite", "postgresql")}
_COMPLETE = (
    update(jobs)
    .where(
        jobs.c.id == bindparam("job_id"),
        jobs.c.lease_owner == bindparam("owner"),
        jobs.c.status == "running",
        jobs.c.attempts == bindparam("attempt"),
    )
    .values(
        status="done",
        lease_expires_at=None,
        finished_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
)


def claim(
    conn: Connection, owner: str, *, limit: int, now: datetime, lease: timedelta
) -> list[ClaimedJob]:
    """Lease up to ``limit`` due jobs (and jobs whose lease expired) to ``owner``, oldest
    due first; each claim counts as an attempt."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    moment = utc(now)
    params = {
        "now": moment,
        "limit": limit,
        "owner": owner,
        "lease_expires_at": moment + lease,
    }
    rows = conn.execute(_CLAIM[conn.dialect.name], params)
    claimed = [
        ClaimedJob(
            id=int(row.id),
            kind=row.kind,
            payload=row.payload,
            dedupe_key=row.dedupe_key,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            due_at=stored_time(row.due_at),
        )
        for row in rows
    ]
    return sorted(claimed, key=lambda job: (job.due_at, job.id))


def _fenced(
    conn: Connection,
    job_id: int,
    owner: str,
    attempt: int | None,
    values: dict[str, Any],
) -> bool:
    """Apply ``values`` to the job if ``owner`` still holds its lease; whether it did."""
    conditions: list[ColumnElement[bool]] = [
        jobs.c.id == job_id,
        jobs.c.lease_owner == owner,
        jobs.c.status == "running",
    ]
    if attempt is not None:
        conditions.append(jobs.c.attempts == attempt)
    result = conn.execute(update(jobs).where(*conditions).values(**values))
    return result.rowcount == 1


def complete(
    conn: Connection,
    job_id: int,
    owner: str,
    *,
    attempt: int | None = None,
    now: datetime,
) -> bool:
    """Mark the job done; False if ``owner`` no longer holds its lease (nothing changes).

    With ``attempt`` the lease must also be that claim's (a worker that claimed the same job
    again under the same owner name is told apart).
    """
    moment = utc(now)
    if attempt is not None:  # the worker's case, once per job: a prebuilt statement
        params = {"job_id": job_id, "owner": owner, "attempt": attempt, "now": moment}
        return conn.execute(_COMPLETE, params).rowcount == 1
    values = {
        "status": "done",
        "lease_expires_at": None,
        "finished_at": moment,
        "updated_at": moment,
    }
    return _fenced(conn, job_id, owner, attempt, values)


def _fenced_many(
    conn: Connection, claims: list[tuple[int, int]], owner: str, values: dict[str, Any]
) -> set[int]:
    """Apply ``values`` in one statement to every (job id, attempt) of ``claims`` whose lease
    ``owner`` still holds (that claim's); the ids it changed."""
    if not claims:
        return set()
    statement = (
        update(jobs)
        .where(
            tuple_(jobs.c.id, jobs.c.attempts).in_(claims),
            jobs.c.lease_owner == owner,
            jobs.c.status == "running",
        )
        .values(**values)
        .returning(jobs.c.id)
    )
    return {int(job_id) for job_id in conn.execute(statement).scalars()}


def complete_many(
    conn: Connection, claims: list[tuple[int, int]], owner: str, *, now: datetime
) -> set[int]:
    """Mark done, in one statement, every (job id, attempt) of ``claims`` whose lease
    ``owner`` still holds; the ids it marked (the others' leases were lost: unchanged).

    The worker's batched outcome: one statement and one transaction for many jobs."""
    moment = utc(now)
    values = {
        "status": "done",
        "lease_expires_at": None,
        "finished_at": moment,
        "updated_at": moment,
    }
    return _fenced_many(conn, claims, owner, values)


def give_up_many(
    conn: Connection, claims: list[tuple[int, int]], owner: str, reason: str, *, now: datetime
) -> set[int]:
    """Mark dead with ``reason``, in one statement, every (job id, attempt) of ``claims``
    whose lease ``owner`` still holds; the ids it marked."""
    moment = utc(now)
    values = {
        "status": "dead",
        "lease_expires_at": None,
        "last_error": reason[:MAX_ERROR_LENGTH],
        "finished_at": moment,
        "updated_at": moment,
    }
    return _fenced_many(conn, claims, owner, values)


def retry_later(
    conn: Connection,
    job_id: int,
    owner: str,
    error: str,
    due_at: datetime,
    *,
    attempt: int | None = None,
    now: datetime,
) -> bool:
    """Queue the job again, due at ``due_at``, keeping ``error``; False if the lease is lost."""
    moment = utc(now)
    values = {
        "status": "queued",
        "due_at": utc(due_at),
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": error[:MAX_ERROR_LENGTH],
        "updated_at": moment,
    }
    return _fenced(conn, job_id, owner, attempt, values)


def defer(
    conn: Connection,
    job_id: int,
    owner: str,
    reason: str,
    due_at: datetime,
    *,
    attempt: int | None = None,
    now: datetime,
) -> bool:
    """Queue the job again, due at ``due_at``, without counting the claim that deferred it as
    an attempt (``attempts`` goes back by one); ``reason`` is kept in ``last_error``. False if
    the lease is lost."""
    moment = utc(now)
    values = {
        "status": "queued",
        "due_at": utc(due_at),
        "attempts": jobs.c.attempts - 1,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": reason[:MAX_ERROR_LENGTH],
        "updated_at": moment,
    }
    return _fenced(conn, job_id, owner, attempt, values)


def give_up(
    conn: Connection,
    job_id: int,
    owner: str,
    reason: str,
    *,
    attempt: int | None = None,
    now: datetime,
) -> bool:
    """Mark the job dead with ``reason`` in ``last_error``; False if the lease is lost."""
    moment = utc(now)
    values = {
        "status": "dead",
        "lease_expires_at": None,
        "last_error": reason[:MAX_ERROR_LENGTH],
        "finished_at": moment,
        "updated_at": moment,
    }
    return _fenced(conn, job_id, owner, attempt, values)
