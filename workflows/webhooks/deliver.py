"""The ``webhook.deliver`` job: post one delivery, signed, and record how it went."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from ringflow.database import Database
from ringflow.outbound import OutboundAnswer, OutboundClient, OutboundFailed, OutboundRefused
from workflows.jobs import ClaimedJob, PermanentJobError, TransientJobError
from workflows.webhooks.db import webhook_deliveries, webhook_subscriptions
from workflows.webhooks.publish import WEBHOOK_DELIVERY_JOB
from workflows.webhooks.signing import headers

__all__ = ["WEBHOOK_DELIVERY_JOB", "DeliveryHandler"]

log = logging.getLogger(__name__)

TIMEOUT = 10.0
"""Seconds a receiver has to answer one attempt."""

_DELIVERY = select(
    webhook_deliveries.c.id,
    webhook_deliveries.c.body,
    webhook_deliveries.c.status,
    webhook_deliveries.c.type,
    webhook_subscriptions.c.id.label("subscription_id"),
    webhook_subscriptions.c.url,
    webhook_subscriptions.c.secret,
    webhook_subscriptions.c.disabled_at,
).select_from(
    webhook_deliveries.join(
        webhook_subscriptions,
        webhook_deliveries.c.subscription_id == webhook_subscriptions.c.id,
    )
)


class DeliveryHandler:
    """Posts a delivery to its subscription's URL (see :mod:`workflows.webhooks`); gives it up
    after ``max_attempts``."""

    def __init__(
        self,
        db: Database,
        client: OutboundClient,
        clock: Callable[[], datetime],
        *,
        max_attempts: int = 10,
        timeout: float = TIMEOUT,
    ) -> None:
        self._db = db
        self._client = client
        self._clock = clock
        self._max_attempts = max_attempts
        self._timeout = timeout

    async def __call__(self, job: ClaimedJob) -> None:
        delivery_id = job.payload.get("delivery_id")
        if not isinstance(delivery_id, str):
            raise PermanentJobError("payload has no 'delivery_id'")
        row = await self._db.read(
            lambda conn: conn.execute(
                _DELIVERY.where(webhook_deliveries.c.id == delivery_id)
            ).first()
        )
        if row is None:
            log.info("webhook %s: its subscription is gone", delivery_id)
            return
        if row.status != "queued":
            return  # delivered (or given up) by an earlier attempt
        if row.disabled_at is not None:
            await self._finish(delivery_id, "failed", None, "the subscription is disabled")
            return
        now = self._clock()
        body = row.body.encode()
        signed = headers(row.secret, row.id, int(now.timestamp()), body)
        try:
            answer = await self._client.send(
                "POST", row.url, headers=signed, body=body, timeout=self._timeout, max_bytes=4096
            )
        except OutboundRefused as error:
            await self._finish(delivery_id, "failed", None, f"refused: {error}")
            raise PermanentJobError(f"webhook {delivery_id}: refused: {error}") from None
        except OutboundFailed as error:
            await self._failed(job, delivery_id, None, str(error))
            return
        if answer.ok:
            await self._finish(delivery_id, "delivered", answer.status, None)
            log.info("webhook %s (%s): delivered, %d", delivery_id, row.type, answer.status)
            return
        if answer.status == 410:
            await self._gone(row.subscription_id, delivery_id, answer)
            return
        await self._failed(job, delivery_id, answer.status, f"answered {answer.status}")

    async def _failed(
        self, job: ClaimedJob, delivery_id: str, status: int | None, error: str
    ) -> None:
        """Record a failed attempt; retry later, or give up after the last attempt."""
        last = job.attempts >= self._max_attempts
        await self._finish(delivery_id, "failed" if last else "queued", status, error)
        if last:
            raise PermanentJobError(
                f"webhook {delivery_id}: given up after {job.attempts} attempts: {error}"
            )
        raise TransientJobError(f"webhook {delivery_id}: attempt {job.attempts}: {error}")

    async def _gone(self, subscription_id: int, delivery_id: str, answer: OutboundAnswer) -> None:
        now = self._clock()

        def disable(conn: Connection) -> None:
            conn.execute(
                update(webhook_subscriptions)
                .where(
                    webhook_subscriptions.c.id == subscription_id,
                    webhook_subscriptions.c.disabled_at.is_(None),
                )
                .values(disabled_at=now, disabled_reason="the receiver answered 410 Gone")
            )
            _record(conn, delivery_id, "failed", answer.status, "answered 410 Gone", now)

        await self._db.write(disable)
        log.warning("webhook subscription %d: answered 410 Gone: disabled", subscription_id)

    async def _finish(
        self, delivery_id: str, status: str, http_status: int | None, error: str | None
    ) -> None:
        now = self._clock()
        await self._db.write(
            lambda conn: _record(conn, delivery_id, status, http_status, error, now)
        )


def _record(
    conn: Connection,
    delivery_id: str,
    status: str,
    http_status: int | None,
    error: str | None,
    now: datetime,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "attempts": webhook_deliveries.c.attempts + 1,
        "last_status": http_status,
        "last_error": error[:500] if error else None,
    }
    if status == "delivered":
        values["delivered_at"] = now
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == "queued")
        .values(**values)
    )
