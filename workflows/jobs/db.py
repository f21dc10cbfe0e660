"""The ``jobs`` table: durable later work (texts, reminders, timers), one row per job.

A job is inserted in the same transaction as the event that causes it, with a unique dedupe
key; workers claim due rows by taking a lease (``lease_owner`` until ``lease_expires_at``).
Status goes ``queued`` -> ``running`` -> ``done``, or back to ``queued`` for a retry, or to
``dead`` (reason in ``last_error``). A ``running`` row whose lease expired is claimed again.
An admin retries a dead job (``queued`` again) or cancels it (``cancelled``); ``done`` and
``cancelled`` jobs are deleted after the retention period (:mod:`workflows.jobs.housekeeping`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ringflow.database import metadata

STATUSES = ("queued", "running", "done", "dead", "cancelled")
FINISHED_STATUSES = ("done", "cancelled")
"""Statuses whose jobs are deleted once the retention period has passed."""

# SQLite only autoincrements an INTEGER PRIMARY KEY (its rowid); a 64-bit integer anyway.
_ID = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False, comment="which handler runs it"),
    Column("payload", JSON, nullable=False),
    Column("dedupe_key", String(255), nullable=False, comment="one job per key, ever"),
    Column(
        "status", String(16), nullable=False, comment="queued, running, done, dead or cancelled"
    ),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, comment="claims so far, this one included"),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("dedupe_key"),
    CheckConstraint(
        "status IN ('queued', 'running', 'done', 'dead', 'cancelled')",
        name="status",
    ),
    Index("ix_jobs_status_due_at", "status", "due_at"),
    Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    Index("ix_jobs_status_finished_at", "status", "finished_at"),
)
