"""Job housekeeping: finished jobs deleted after a retention period; dead jobs listed, retried
and cancelled by an admin.

Plain functions of a SQLAlchemy ``Connection`` like :mod:`workflows.jobs.queue`. Every change is
one conditional ``UPDATE``/``DELETE`` on the job's status, so an admin racing a worker (or two
admins racing each other) cannot revive a job twice or cancel one that is running.

* ``done`` and ``cancelled`` jobs whose ``finished_at`` is older than the retention period are
  deleted, a small batch per statement (:func:`purge_finished`), so that a worker sweeping a
  large backlog never holds the write lock for long. ``dead`` jobs are kept until an admin
  retries or cancels them: they are the ones that need a person.
* :func:`retry_dead` queues a dead job again, due now, with all its attempts back; its
  ``last_error`` stays until the next attempt replaces it. The handler runs as on any retry: a
  text whose message is already final (e.g. ``failed``) is not sent again.
* :func:`cancel_dead` marks a dead job ``cancelled``: acknowledged, never retried, deleted with
  the finished jobs after the retention period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from ringflow.database import stored_time
from workflows.jobs.db import FINISHED_STATUSES, jobs
from workflows.jobs.queue import utc

PURGE_BATCH = 500
"""Rows one purge statement deletes at most."""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as an admin sees it."""

    id: int
    kind: str
    payload: dict[str, Any]
    dedupe_key: str
    status: str
    due_at: datetime
    attempts: int
    max_attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Row[Any]) -> JobRecord:
        return cls(
            id=int(row.id),
            kind=row.kind,
            payload=dict(row.payload),
            dedupe_key=row.dedupe_key,
            status=row.status,
            due_at=stored_time(row.due_at),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            last_error=row.last_error,
            created_at=stored_time(row.created_at),
            updated_at=stored_time(row.updated_at),
            finished_at=None if row.finished_at is None else stored_time(row.finished_at),
        )


class JobNotFound(LookupError):
    """No job has this id."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} does not exist")
        self.job_id = job_id


class JobNotDead(ValueError):
    """The job exists but is not dead, so it cannot be retried or cancelled."""

    def __init__(self, job: JobRecord) -> None:
        super().__init__(f"job {job.id} is {job.status}, not dead: only dead jobs can be changed")
        self.job = job


def job_by_id(conn: Connection, job_id: int) -> JobRecord | None:
    """The job with this id, or None."""
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return None if row is None else JobRecord.of(row)


def dead_jobs(conn: Connection, *, limit: int = 50, kind: str | None = None) -> list[JobRecord]:
    """Dead jobs, the latest to die first (of ``kind`` only, when given)."""
    query = select(jobs).where(jobs.c.status == "dead")
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    query = query.order_by(jobs.c.finished_at.desc(), jobs.c.id.desc()).limit(limit)
    return [JobRecord.of(row) for row in conn.execute(query).all()]


def _change_dead(conn: Connection, job_id: int, values: dict[str, Any]) -> JobRecord:
    changed = conn.execute(
        update(jobs).where(jobs.c.id == job_id, jobs.c.status == "dead").values(**values)
    ).rowcount
    job = job_by_id(conn, job_id)
    if job is None:
        raise JobNotFound(job_id)
    if changed != 1:
        raise JobNotDead(job)
    return job


def retry_dead(conn: Connection, job_id: int, *, now: datetime) -> JobRecord:
    """Queue the dead job again, due ``now``, with all its attempts; the job as it is now.

    Raises ``JobNotFound`` or ``JobNotDead`` (nothing changes then).
    """
    moment = utc(now)
    values = {
        "status": "queued",
        "due_at": moment,
        "attempts": 0,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": None,
        "updated_at": moment,
    }
    return _change_dead(conn, job_id, values)


def cancel_dead(conn: Connection, job_id: int, *, now: datetime) -> JobRecord:
    """Mark the dead job ``cancelled`` (never retried; purged after the retention period).

    Raises ``JobNotFound`` or ``JobNotDead`` (nothing changes then).
    """
    moment = utc(now)
    values = {"status": "cancelled", "finished_at": moment, "updated_at": moment}
    return _change_dead(conn, job_id, values)


def purge_finished(conn: Connection, *, before: datetime, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` done or cancelled jobs that finished before ``before``, oldest
    first; how many were deleted (fewer than ``limit``: nothing more is due)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    oldest = (
        select(jobs.c.id)
        .where(jobs.c.status.in_(FINISHED_STATUSES), jobs.c.finished_at < utc(before))
        .order_by(jobs.c.finished_at)
        .limit(limit)
    )
    result = conn.execute(delete(jobs).where(jobs.c.id.in_(oldest.scalar_subquery())))
    return int(result.rowcount)
