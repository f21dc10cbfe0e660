"""Prometheus metrics: what the server does, at ``/metrics``.

Each app has its own :class:`Metrics` with its own ``CollectorRegistry`` (tests build many apps
in one process; nothing is registered globally). The instruments are fed at the edges: the
voice and SMS routes, the job worker (as its :class:`workflows.jobs.worker.JobObserver`) and
the database (its write timer). Label children are made once and cached, so a webhook pays a
dictionary look-up and an addition, no allocation.

Counts that live in the database (jobs queued, running and dead, by kind, and the age of the
oldest of each) are read at scrape time by one grouped query, bounded by
``SCRAPE_READ_SECONDS``; if it fails or is slow, the scrape still answers, with
``ringflow_jobs_read_ok 0``.

Who may read them, and where: :mod:`ringflow.metrics_http`.

``ringflow_chat_connections`` is defined for the chat hub (``chat_connected`` /
``chat_disconnected``); until the chat channel exists it stays 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection

from ringflow.clock import Clock
from ringflow.database import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

WATCHED_STATUSES = ("queued", "running", "dead")
"""The job statuses the ``ringflow_jobs`` gauges show (those that stay small when healthy)."""


@dataclass(frozen=True, slots=True)
class JobCount:
    """``count`` jobs of ``kind`` in ``status``; ``age_seconds`` is how long the oldest has
    waited: past its due time (queued; 0 while none is due yet), since its claim (running) or
    since it died (dead)."""

    kind: str
    status: str
    count: int
    age_seconds: float


JobCounter = Callable[[Connection, datetime], list[JobCount]]
"""Reads the jobs' counts at a time (the jobs' package provides it; plumbing knows no tables)."""

SCRAPE_READ_SECONDS = 2.0
"""Longest a scrape waits for the jobs' counts."""
TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
TEXT_STATUSES = frozenset(
    {
        "received",
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "canceled",
        "partially_delivered",
    }
)
"""Statuses counted by name; anything else a callback says counts as ``other``."""


class _Cached(Generic[T]):
    """Label children of one labelled metric, made once per label value."""

    def __init__(self, make: Callable[[str], T]) -> None:
        self._make = make
        self._children: dict[str, T] = {}

    def __call__(self, value: str) -> T:
        child = self._children.get(value)
        if child is None:
            child = self._children[value] = self._make(value)
        return child


class JobsCollector(Collector):
    """The jobs' counts and ages from the last read (:meth:`Metrics.read_jobs`)."""

    def __init__(self) -> None:
        self.counts: list[JobCount] = []
        self.read_ok = False

    def collect(self) -> Iterable[Metric]:
        number = GaugeMetricFamily(
            "ringflow_jobs", "Jobs queued, running and dead, by kind", labels=["kind", "status"]
        )
        age = GaugeMetricFamily(
            "ringflow_jobs_oldest_age_seconds",
            "Age of the oldest job by kind and status: past due (queued), since its claim"
            " (running), since it died (dead)",
            labels=["kind", "status"],
        )
        seen = {count.kind for count in self.counts}
        present = {(count.kind, count.status): count for count in self.counts}
        for kind in sorted(seen):
            for status in WATCHED_STATUSES:
                count = present.get((kind, status))
                number.add_metric([kind, status], count.count if count else 0)
                age.add_metric([kind, status], count.age_seconds if count else 0.0)
        yield number
        yield age
        ok = GaugeMetricFamily(
            "ringflow_jobs_read_ok", "1 when this scrape could read the jobs' counts"
        )
        ok.add_metric([], 1 if self.read_ok else 0)
        yield ok


class Metrics:
    """One app's instruments and registry (see the module docstring)."""

    def __init__(self, clock: Clock) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._db: Database | None = None
        self._job_counts: JobCounter | None = None
        registry = self.registry
        calls = Counter(
            "ringflow_calls_ended",
            "Calls that ended, by outcome (ended, missed, after_hours, callback,"
            " self_service, abandoned, unrouted)",
            ["outcome"],
            registry=registry,
        )
        self._call_outcome = _Cached(calls.labels)
        turns = Histogram(
            "ringflow_voice_turn_seconds",
            "Time to answer a voice webhook with TwiML (incoming call or a waiting verb's"
            " action), signature check included",
            ["webhook"],
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.incoming_turn = turns.labels("incoming")
        self.action_turn = turns.labels("action")
        texts = Counter(
            "ringflow_texts",
            "Texts by the status they reached: received (inbound), or the delivery status a"
            " provider reported",
            ["status"],
            registry=registry,
        )
        self._text_status = _Cached(texts.labels)
        rejected = Counter(
            "ringflow_webhook_signature_failures",
            "Webhooks refused for a bad or missing X-Twilio-Signature, by channel",
            ["channel"],
            registry=registry,
        )
        self._rejected = _Cached(rejected.labels)
        writes = Histogram(
            "ringflow_database_write_seconds",
            "Time from queueing a database write to its commit, by backend",
            ["backend"],
            buckets=WRITE_BUCKETS,
            registry=registry,
        )
        self._writes = _Cached(writes.labels)
        lag = Histogram(
            "ringflow_job_start_lag_seconds",
            "Time from a job's due time to its claim by a worker (timer lag), by kind",
            ["kind"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self._lag = _Cached(lag.labels)
        finished = Counter(
            "ringflow_jobs_finished",
            "Job attempts that ended, by kind and outcome (done, retry, deferred, dead)",
            ["kind", "outcome"],
            registry=registry,
        )
        self._finished = _Cached(lambda key: finished.labels(*key.split("\0")))
        self.chat_connections = Gauge(
            "ringflow_chat_connections",
            "Open chat connections (set by the chat hub)",
            registry=registry,
        )
        self.jobs = JobsCollector()
        registry.register(self.jobs)

    # The edges call these.

    def call_ended(self, outcome: str) -> None:
        """A call ended with ``outcome``."""
        self._call_outcome(outcome).inc()

    def text_status(self, status: str) -> None:
        """A text reached ``status`` (``received`` for an inbound one)."""
        self._text_status(status if status in TEXT_STATUSES else "other").inc()

    def signature_rejected(self, channel: str) -> None:
        """A webhook of ``channel`` (voice, sms) had a bad signature."""
        self._rejected(channel).inc()

    def chat_connected(self) -> None:
        """A chat connection opened."""
        self.chat_connections.inc()

    def chat_disconnected(self) -> None:
        """A chat connection closed."""
        self.chat_connections.dec()

    # workflows.jobs.worker.JobObserver

    def claimed(self, kind: str, lag: timedelta) -> None:
        """A job of ``kind`` was claimed ``lag`` after its due time."""
        self._lag(kind).observe(max(0.0, lag.total_seconds()))

    def finished(self, kind: str, outcome: str) -> None:
        """A job attempt of ``kind`` ended with ``outcome``."""
        self._finished(f"{kind}\0{outcome}").inc()

    # The database.

    def watch_database(self, db: Database, job_counts: JobCounter) -> None:
        """Time ``db``'s writes, and read the jobs' counts from it with ``job_counts`` at
        scrape time."""
        self._db, self._job_counts = db, job_counts
        db.observe_writes(self._writes(db.url.get_backend_name()).observe)

    async def read_jobs(self) -> None:
        """Refresh the jobs' counts (bounded; on failure the scrape says so)."""
        db, job_counts, now = self._db, self._job_counts, self._clock()
        if db is None or job_counts is None:
            self.jobs.read_ok = False
            return
        try:
            async with asyncio.timeout(SCRAPE_READ_SECONDS):
                self.jobs.counts = await db.read(lambda conn: job_counts(conn, now))
            self.jobs.read_ok = True
        except Exception as error:  # a scrape never fails for it: it reports it
            log.warning("metrics: could not read the jobs' counts: %s", error)
            self.jobs.counts, self.jobs.read_ok = [], False


METRICS = web.AppKey("metrics", Metrics)
