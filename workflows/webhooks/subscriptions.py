"""Webhook subscriptions: made (their secret shown once), listed, read with their latest
deliveries, deleted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from workflows.webhooks.db import webhook_deliveries, webhook_subscriptions
from workflows.webhooks.publish import EVENT_TYPES, FAMILIES
from workflows.webhooks.signing import new_secret

MAX_SUBSCRIPTIONS = 100


class SubscriptionRefused(ValueError):
    """A subscription that cannot be made; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    url: str
    events: tuple[str, ...]
    description: str | None
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    type: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    """``events`` without repeats, or :class:`SubscriptionRefused` naming the unknown one."""
    if not events:
        raise SubscriptionRefused("events", "name at least one event type (or conversation.*)")
    for index, name in enumerate(events):
        if name not in EVENT_TYPES and name not in FAMILIES:
            raise SubscriptionRefused(
                f"events.{index}",
                f"unknown event type {name!r}: one of {', '.join((*FAMILIES, *EVENT_TYPES))}",
            )
    return tuple(dict.fromkeys(events))


def _subscription(row: Any) -> Subscription:
    return Subscription(
        int(row.id),
        row.url,
        tuple(row.events or ()),
        row.description,
        row.created_at,
        row.disabled_at,
        row.disabled_reason,
    )


def create_subscription(
    conn: Connection,
    url: str,
    events: Sequence[str],
    now: datetime,
    description: str | None = None,
) -> tuple[Subscription, str]:
    """Make a subscription; it and its secret (the only time the secret is handed out)."""
    wanted = check_events(events)
    count = len(conn.execute(select(webhook_subscriptions.c.id)).all())
    if count >= MAX_SUBSCRIPTIONS:
        raise SubscriptionRefused("url", f"at most {MAX_SUBSCRIPTIONS} subscriptions")
    secret = new_secret()
    new_id = conn.execute(
        webhook_subscriptions.insert()
        .values(
            url=url,
            events=list(wanted),
            secret=secret,
            description=description,
            created_at=now,
        )
        .returning(webhook_subscriptions.c.id)
    ).scalar_one()
    found = find_subscription(conn, int(new_id))
    assert found is not None
    return found, secret


def list_subscriptions(conn: Connection) -> list[Subscription]:
    rows = conn.execute(select(webhook_subscriptions).order_by(webhook_subscriptions.c.id))
    return [_subscription(row) for row in rows]


def find_subscription(conn: Connection, subscription_id: int) -> Subscription | None:
    row = conn.execute(
        select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
    ).first()
    return None if row is None else _subscription(row)


def delete_subscription(conn: Connection, subscription_id: int) -> bool:
    """Delete the subscription and its deliveries (their jobs find nothing and end)."""
    conn.execute(
        delete(webhook_deliveries).where(webhook_deliveries.c.subscription_id == subscription_id)
    )
    removed = conn.execute(
        delete(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
    ).rowcount
    return bool(removed)


def recent_deliveries(conn: Connection, subscription_id: int, limit: int = 50) -> list[Delivery]:
    """The subscription's latest deliveries, newest first."""
    rows = conn.execute(
        select(webhook_deliveries)
        .where(webhook_deliveries.c.subscription_id == subscription_id)
        .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id)
        .limit(limit)
    )
    return [
        Delivery(
            r.id,
            r.type,
            r.status,
            int(r.attempts),
            r.last_status,
            r.last_error,
            r.created_at,
            r.delivered_at,
        )
        for r in rows
    ]
