"""How many jobs wait, run and died, by kind, and how old the oldest of each is: what a
monitoring scrape reads (``ringflow.metrics``).

One grouped query over the statuses that stay small in a healthy system (``done`` rows, the
bulk of the table, are never read); ``ix_jobs_status_due_at`` serves it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from ringflow.database import stored_time
from ringflow.metrics import WATCHED_STATUSES, JobCount
from workflows.jobs.db import jobs


def job_counts(conn: Connection, now: datetime) -> list[JobCount]:
    """The queued, running and dead jobs by kind, at ``now``."""
    query = (
        select(
            jobs.c.kind,
            jobs.c.status,
            func.count().label("jobs"),
            func.min(jobs.c.due_at).label("first_due"),
            func.min(jobs.c.updated_at).label("first_update"),
        )
        .where(jobs.c.status.in_(WATCHED_STATUSES))
        .group_by(jobs.c.kind, jobs.c.status)
    )
    counts = []
    for row in conn.execute(query):
        since = row.first_due if row.status == "queued" else row.first_update
        age = (now - stored_time(since)).total_seconds() if since is not None else 0.0
        counts.append(JobCount(row.kind, row.status, int(row.jobs), max(0.0, age)))
    return counts
