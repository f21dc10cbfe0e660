"""The durable job that makes an ``http_request`` step's request (:class:`FetchUrl`), queued
in the transaction that saves the turn which asked for it."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from workflows.engine import Turn
from workflows.instructions import FetchUrl
from workflows.jobs import enqueue
from workflows.runs import StoredRun

HTTP_REQUEST_JOB: Final = "workflow.http_request"
"""Payload ``{"run_id", "turn", "channel", "request": {method, url, headers, body,
timeout}}``; dedupe key ``http:<run>:<turn>``. The request is made at least once (a worker
that dies after it and before resuming the run makes it again); the run resumes once."""


def queue_fetch(conn: Connection, run: StoredRun, turn: Turn, channel: str, now: datetime) -> bool:
    """Queue the request the turn waits on, if it waits on one; whether it did."""
    fetches = [i for i in turn.instructions if isinstance(i, FetchUrl)]
    if not fetches or run.status != "waiting":
        return False
    fetch = fetches[-1]
    enqueue(
        conn,
        HTTP_REQUEST_JOB,
        {
            "run_id": run.id,
            "turn": run.turn,
            "channel": channel,
            "request": {
                "method": fetch.method,
                "url": fetch.url,
                "headers": dict(fetch.headers),
                "body": fetch.body,
                "timeout": fetch.timeout,
            },
        },
        dedupe_key=f"http:{run.id}:{run.turn}",
        max_attempts=5,
        now=now,
    )
    return True
