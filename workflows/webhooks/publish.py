"""Publishing an event to the subscriptions that want it, in the caller's transaction."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, select

from ringflow.database import transaction_memo
from workflows.jobs import enqueue
from workflows.webhooks.db import webhook_deliveries, webhook_subscriptions

WEBHOOK_DELIVERY_JOB: Final = "webhook.deliver"
"""The job that posts one delivery; payload ``{"delivery_id": "msg_..."}``, dedupe key
``webhook:<delivery id>``."""
MAX_ATTEMPTS: Final = 50
"""The job's own bound; the handler gives up at ``RINGFLOW_WEBHOOK_MAX_ATTEMPTS``."""

CONVERSATION_KINDS: Final = (
    "opened",
    "reopened",
    "message.received",
    "agent.replied",
    "note",
    "assigned",
    "priority",
    "tagged",
    "untagged",
    "snoozed",
    "woke",
    "closed",
    "survey",
)
EVENT_TYPES: Final = (
    *(f"conversation.{kind}" for kind in CONVERSATION_KINDS),
    "call.ended",
    "message.received",
    "message.sent",
    "message.delivered",
    "message.undelivered",
    "message.failed",
)
"""Every event type a subscription may ask for (or a family: ``conversation.*``,
``call.*``, ``message.*``, or ``*`` for all)."""
FAMILIES: Final = ("*", "conversation.*", "call.*", "message.*")

_LIVE_KEY: Final = "webhooks.live"
_LIVE = select(webhook_subscriptions.c.id, webhook_subscriptions.c.events).where(
    webhook_subscriptions.c.disabled_at.is_(None)
)


def _live(conn: Connection) -> list[tuple[int, Sequence[str] | None]]:
    """The live subscriptions and what each wants, read once per transaction (a worker's
    batch of jobs records many events in one)."""
    memo = transaction_memo(conn)
    if _LIVE_KEY not in memo:
        memo[_LIVE_KEY] = [(int(row.id), row.events) for row in conn.execute(_LIVE)]
    live: list[tuple[int, Sequence[str] | None]] = memo[_LIVE_KEY]
    return live


Data = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None]


def wanted(patterns: Sequence[str], event_type: str) -> bool:
    """Whether a subscription to ``patterns`` wants ``event_type``."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def new_delivery_id() -> str:
    """A delivery's id: ``msg_`` and 128 random bits (unguessable, unique)."""
    return "msg_" + secrets.token_hex(16)


def publish(conn: Connection, event_type: str, data: Data, now: datetime) -> int:
    """Queue a delivery of ``event_type`` to every live subscription that wants it, in the
    caller's transaction; how many. ``data`` may be a function, called only when some
    subscription wants the event (most events have none)."""
    assert event_type in EVENT_TYPES, event_type
    subscribers = [
        subscription_id
        for subscription_id, events in _live(conn)
        if wanted(events or (), event_type)
    ]
    if not subscribers:
        return 0
    payload = data() if callable(data) else data
    if payload is None:
        return 0
    body = json.dumps(
        {"type": event_type, "timestamp": now.isoformat(), "data": dict(payload)},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    for subscription_id in subscribers:
        delivery_id = new_delivery_id()
        conn.execute(
            webhook_deliveries.insert().values(
                id=delivery_id,
                subscription_id=subscription_id,
                type=event_type,
                body=body,
                status="queued",
                attempts=0,
                created_at=now,
            )
        )
        enqueue(
            conn,
            WEBHOOK_DELIVERY_JOB,
            {"delivery_id": delivery_id},
            dedupe_key=f"webhook:{delivery_id}",
            max_attempts=MAX_ATTEMPTS,
            now=now,
        )
    return len(subscribers)
