"""Accepting an external event: its row and its job, in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from workflows.external.db import external_events
from workflows.jobs import enqueue

EXTERNAL_EVENT_JOB = "external.event"
"""The job that starts the workflows of an accepted event; payload ``{"event_id": n}``, dedupe
key ``external-event:<id>``."""


class IdempotencyConflict(ValueError):
    """The idempotency key was used before for an event with other content."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event as another system sent it, validated (see ``ringflow/admin/events.py``)."""

    name: str
    contact_number: str
    contact: Mapping[str, Any]
    channel: str
    data: Mapping[str, Any] = field(default_factory=dict)
    line: str | None = None
    idempotency_key: str | None = None
    source: str = ""

    def fingerprint(self) -> str:
        """What tells a retry (same content) from a different event under the same key."""
        content = {
            "name": self.name,
            "contact": dict(self.contact),
            "channel": self.channel,
            "data": dict(self.data),
            "line": self.line,
        }
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted event: its id, and whether it was a retry of one accepted before."""

    id: int
    received_at: datetime
    duplicate: bool


def _insert(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(external_events)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(external_events.c.id)
    )


def accept(conn: Connection, event: Incoming, now: datetime) -> Accepted:
    """Store ``event`` and enqueue the job that starts its workflows, in the caller's
    transaction; a repeat of an idempotency key with the same content is the event accepted
    before (nothing new is stored or started), with other content an
    :class:`IdempotencyConflict`."""
    fingerprint = event.fingerprint()
    row = {
        "name": event.name,
        "contact_number": event.contact_number,
        "contact": dict(event.contact),
        "line": event.line,
        "channel": event.channel,
        "data": dict(event.data),
        "idempotency_key": event.idempotency_key,
        "fingerprint": fingerprint,
        "source": event.source[:64],
        "received_at": now,
    }
    new_id = conn.execute(_insert(conn.dialect.name), row).scalar_one_or_none()
    if new_id is None:
        before = conn.execute(
            select(
                external_events.c.id,
                external_events.c.fingerprint,
                external_events.c.received_at,
            ).where(external_events.c.idempotency_key == event.idempotency_key)
        ).one()
        if before.fingerprint != fingerprint:
            raise IdempotencyConflict(
                f"the idempotency key was used for another event (id {before.id})"
            )
        return Accepted(int(before.id), before.received_at, duplicate=True)
    event_id = int(new_id)
    enqueue(
        conn,
        EXTERNAL_EVENT_JOB,
        {"event_id": event_id},
        dedupe_key=f"external-event:{event_id}",
        now=now,
    )
    return Accepted(event_id, now, duplicate=False)
