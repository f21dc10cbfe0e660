"""Webhook deliveries are not kept for ever: a settled one (``delivered``, or ``failed`` after
its last attempt) is deleted with the finished jobs, after the same retention period.

Its body is the exact JSON that was posted, which names customers and quotes their messages:
it must not outlive the jobs that sent it. A ``queued`` delivery is never deleted (its job
still needs it). Small batches, oldest first, like the finished jobs' purge
(:func:`workflows.jobs.housekeeping.purge_finished`); the job worker runs both at every sweep.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from workflows.jobs.queue import utc
from workflows.webhooks.db import webhook_deliveries

SETTLED_STATUSES = ("delivered", "failed")
"""Statuses no attempt follows any more."""


def purge_settled(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` settled deliveries made before ``before``, oldest first; how many
    were deleted (fewer than ``limit``: nothing more is due)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    oldest = (
        select(webhook_deliveries.c.id)
        .where(
            webhook_deliveries.c.status.in_(SETTLED_STATUSES),
            webhook_deliveries.c.created_at < utc(before),
        )
        .order_by(webhook_deliveries.c.created_at)
        .limit(limit)
    )
    result = conn.execute(
        delete(webhook_deliveries).where(webhook_deliveries.c.id.in_(oldest.scalar_subquery()))
    )
    return int(result.rowcount)
