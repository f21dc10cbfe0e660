"""A running server's worker deletes settled webhook deliveries (their bodies name customers)
after RINGFLOW_JOB_RETENTION_DAYS, by the server's clock; queued and recent ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, select

from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually
from workflows.webhooks import webhook_deliveries
from workflows.webhooks.subscriptions import create_subscription


async def test_settled_deliveries_are_deleted_after_the_retention(servers: ServerFactory) -> None:
    clock = MovableClock()
    server = await servers.start(clock=clock, job_retention_days=2)

    def deliveries(conn: Connection) -> None:
        subscription, _secret = create_subscription(
            conn, "https://crm.example.com/hooks", ["conversation.*"], clock()
        )
        for delivery_id, status, days_ago in [
            ("msg_old_delivered", "delivered", 3),
            ("msg_old_failed", "failed", 3),
            ("msg_old_queued", "queued", 3),
            ("msg_recent", "delivered", 1),
        ]:
            conn.execute(
                webhook_deliveries.insert().values(
                    id=delivery_id,
                    subscription_id=subscription.id,
                    type="conversation.closed",
                    body='{"data":{"contact":"+14155550123"}}',
                    status=status,
                    attempts=1,
                    created_at=clock() - timedelta(days=days_ago),
                )
            )

    async def only_queued_and_recent_kept() -> bool:
        query = select(webhook_deliveries.c.id)
        ids = await server.db.read(lambda conn: conn.execute(query).scalars().all())
        return set(ids) == {"msg_old_queued", "msg_recent"}

    await server.db.write(deliveries)
    clock.advance(timedelta(minutes=11))  # past the sweep interval, whenever the first ran
    await eventually(
        only_queued_and_recent_kept,
        what="the settled deliveries older than two days to be deleted",
    )
