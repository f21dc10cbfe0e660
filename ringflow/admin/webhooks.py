"""Admin API for outbound webhooks: subscribe a URL to conversation, call and message events,
list and read subscriptions (with their latest deliveries), delete them.

The subscription's signing secret is in the answer that creates it, and never again. A URL
must be ``http``/``https``; an address literal that is not public (``127.0.0.1``,
``10.0.0.5``, ``169.254.169.254``...) is refused unless its network is allowed
(``RINGFLOW_OUTBOUND_ALLOWED_NETWORKS``); host names are checked each time a delivery is made
(see :mod:`ringflow.outbound`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection

from ringflow.admin.context import path_id, unprocessable
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import not_found
from ringflow.database import Database
from ringflow.outbound import OutboundPolicy, OutboundRefused
from workflows.webhooks import EVENT_TYPES, FAMILIES
from workflows.webhooks.subscriptions import (
    Delivery,
    Subscription,
    SubscriptionRefused,
    create_subscription,
    delete_subscription,
    find_subscription,
    list_subscriptions,
    recent_deliveries,
)


@dataclass(frozen=True)
class WebhookAdmin:
    """The webhook endpoints' dependencies: the database, the time, and the policy a
    subscription's URL must pass."""

    db: Database
    clock: Callable[[], datetime]
    policy: OutboundPolicy


WEBHOOK_ADMIN = web.AppKey("webhook_admin", WebhookAdmin)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048)] = Field(
        description="where deliveries are posted (http or https, a public address)"
    )
    events: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES) + len(FAMILIES),
        description="event types (" + ", ".join((*FAMILIES, *EVENT_TYPES)) + ")",
    )
    description: Annotated[str, StringConstraints(max_length=200)] | None = None


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None

    @classmethod
    def of(cls, found: Subscription) -> SubscriptionOut:
        return cls(
            id=found.id,
            url=found.url,
            events=list(found.events),
            description=found.description,
            created_at=found.created_at,
            disabled_at=found.disabled_at,
            disabled_reason=found.disabled_reason,
        )


class NewSubscriptionOut(SubscriptionOut):
    secret: str = Field(
        description="the signing secret (whsec_...): shown this once, keep it with the receiver"
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="the webhook-id header, the same on every attempt")
    type: str
    status: str = Field(description="queued (being tried), delivered or failed")
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, found: Delivery) -> DeliveryOut:
        return cls(
            id=found.id,
            type=found.type,
            status=found.status,
            attempts=found.attempts,
            last_status=found.last_status,
            last_error=found.last_error,
            created_at=found.created_at,
            delivered_at=found.delivered_at,
        )


def _admin(request: web.Request) -> WebhookAdmin:
    return request.config_dict[WEBHOOK_ADMIN]


async def list_webhooks(request: web.Request) -> web.Response:
    found = await _admin(request).db.read(list_subscriptions)
    return json_answer([SubscriptionOut.of(each) for each in found])


async def create_webhook(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = await json_body(request, SubscriptionIn)
    try:
        admin.policy.check_url(body.url)
    except OutboundRefused as error:
        raise unprocessable("body.url", str(error)) from None
    now = admin.clock()
    try:
        made, secret = await admin.db.write(
            lambda conn: create_subscription(conn, body.url, body.events, now, body.description)
        )
    except SubscriptionRefused as error:
        raise unprocessable(f"body.{error.field}", str(error)) from None
    answer = NewSubscriptionOut(**SubscriptionOut.of(made).model_dump(), secret=secret)
    return json_answer(answer, status=201)


async def get_webhook(request: web.Request) -> web.Response:
    subscription_id = path_id(request, "webhook_id", "webhook subscription")
    found = await _admin(request).db.read(lambda conn: find_subscription(conn, subscription_id))
    if found is None:
        raise not_found(f"webhook subscription {subscription_id}")
    return json_answer(SubscriptionOut.of(found))


async def list_deliveries(request: web.Request) -> web.Response:
    subscription_id = path_id(request, "webhook_id", "webhook subscription")

    def read(conn: Connection) -> list[Delivery] | None:
        if find_subscription(conn, subscription_id) is None:
            return None
        return recent_deliveries(conn, subscription_id)

    found = await _admin(request).db.read(read)
    if found is None:
        raise not_found(f"webhook subscription {subscription_id}")
    return json_answer([DeliveryOut.of(each) for each in found])


async def remove_webhook(request: web.Request) -> web.Response:
    subscription_id = path_id(request, "webhook_id", "webhook subscription")
    removed = await _admin(request).db.write(
        lambda conn: delete_subscription(conn, subscription_id)
    )
    if not removed:
        raise not_found(f"webhook subscription {subscription_id}")
    return web.Response(status=204)


def endpoints() -> list[Endpoint]:
    tag = "webhooks"
    one = "/webhooks/{webhook_id}"
    return [
        Endpoint(
            "GET",
            "/webhooks",
            list_webhooks,
            "List webhook subscriptions (never their secrets)",
            tag,
            answer=list[SubscriptionOut],
        ),
        Endpoint(
            "POST",
            "/webhooks",
            create_webhook,
            "Subscribe a URL to events; the answer holds its signing secret, shown once",
            tag,
            body=Body(model=SubscriptionIn, description="The URL and the event types it wants."),
            answer=NewSubscriptionOut,
            status=201,
            errors=(400, 413, 415, 422),
            description=(
                "Deliveries are signed as the Standard Webhooks specification says"
                " (webhook-id, webhook-timestamp, webhook-signature) and retried with backoff"
                " until the receiver answers 2xx; 410 Gone disables the subscription."
            ),
        ),
        Endpoint(
            "GET",
            one,
            get_webhook,
            "A webhook subscription",
            tag,
            answer=SubscriptionOut,
            errors=(404,),
        ),
        Endpoint(
            "GET",
            one + "/deliveries",
            list_deliveries,
            "A subscription's latest deliveries, newest first",
            tag,
            answer=list[DeliveryOut],
            errors=(404,),
        ),
        Endpoint(
            "DELETE",
            one,
            remove_webhook,
            "Delete a webhook subscription (deliveries not made yet are dropped)",
            tag,
            status=204,
            errors=(404,),
        ),
    ]


def register(api: Api) -> None:
    """Add the webhook endpoints to ``api``."""
    api.add(*endpoints())
