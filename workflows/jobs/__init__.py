"""Durable jobs: later work (texts, reminders, timers) as rows claimed by workers.

``enqueue`` a job inside the transaction of the event that causes it; a ``JobWorker`` claims
due jobs under a lease, runs the handler of their kind and records the outcome, retrying
transient failures with ``RetryPolicy`` backoff; a handler can defer its job (``JobDeferred``)
without spending an attempt. Delivery is at least once: handlers make their
side effects idempotent with ``job.dedupe_key``. See ``worker`` and ``queue`` for the details.
"""

from __future__ import annotations

from workflows.jobs.db import jobs
from workflows.jobs.errors import JobDeferred, JobError, PermanentJobError, TransientJobError
from workflows.jobs.queue import (
    ClaimedJob,
    claim,
    complete,
    defer,
    enqueue,
    give_up,
    retry_later,
)
from workflows.jobs.retry import RetryPolicy
from workflows.jobs.worker import FinalWrite, GroupedWrite, JobHandler, JobWorker

__all__ = [
    "ClaimedJob",
    "FinalWrite",
    "GroupedWrite",
    "JobDeferred",
    "JobError",
    "JobHandler",
    "JobWorker",
    "PermanentJobError",
    "RetryPolicy",
    "TransientJobError",
    "claim",
    "complete",
    "defer",
    "enqueue",
    "give_up",
    "jobs",
    "retry_later",
]
