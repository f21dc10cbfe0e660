"""What the metrics and the readiness check watch once the database is open: its writes, the
jobs' counts at scrape time, its schema and whether it takes writes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ringflow.health import READINESS
from ringflow.metrics import METRICS
from ringflow.resources.database import DATABASE
from workflows.jobs.stats import job_counts


async def observed_database(app: web.Application) -> AsyncIterator[None]:
    """Points ``app[METRICS]`` (and ``app[READINESS]``, where the app has one) at
    ``app[DATABASE]``. Nothing to close."""
    db = app[DATABASE]
    app[METRICS].watch_database(db, job_counts)
    readiness = app.get(READINESS)
    if readiness is not None:
        readiness.use_database(db)
    yield
