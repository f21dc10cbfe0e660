"""Events in (journey 6, the proactive nudge): another system posts ``checkout.idle`` for a
customer over the API with an events-scoped token, and the nudge recipe's message reaches the
customer by text, once, never to one who opted out and never during quiet hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from ringflow.admin.tokens import create_token
from server import JOB_WORKER
from tests.clock import TUESDAY, MovableClock, next_weekday_at
from tests.conftest import ServerFactory, eventually, workflow
from tests.fakes.twilio_api import TwilioApiStub
from tests.workflows.automations.helpers import CONTACT, Desk, open_desk
from workflows.external import external_events

BUSINESS = "+15005550001"
NEW_YORK = ZoneInfo("America/New_York")
CART = "https://shop.example/cart/42"


def idle(**fields: Any) -> dict[str, Any]:
    return {
        "name": "checkout.idle",
        "contact": {"phone": CONTACT},
        "data": {"cart_url": CART},
        **fields,
    }


@pytest.fixture
async def desk(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[Desk]:
    clock = MovableClock(next_weekday_at(TUESDAY, time(10, 0), NEW_YORK))
    async with aiohttp.ClientSession() as session:
        desk = await open_desk(servers, server_stub, session, [], clock)
        await desk.install("proactive-nudge", workflow_id="nudge", number=BUSINESS, hours="office")
        yield desk


async def shop_token(desk: Desk) -> str:
    now = desk.clock()
    token: str = await desk.api.server.db.write(
        lambda conn: create_token(conn, "shop", now, scopes=["events"])
    )
    return token


async def texted(desk: Desk, count: int) -> None:
    """Wait until the contact has received ``count`` texts (the worker sends them)."""
    desk.api.server.app[JOB_WORKER].wake()
    await eventually(lambda: len(desk.received()) >= count, what=f"{count} texts")


async def post(desk: Desk, body: Any, token: str | bool = True, **headers: str) -> Any:
    return await desk.api.call("POST", "/events", json_body=body, token=token, headers=headers)


async def test_a_hesitating_customer_is_nudged_once(desk: Desk) -> None:
    token = await shop_token(desk)
    first = await post(desk, idle(), token, **{"Idempotency-Key": "cart-42-idle"})
    assert first.status == 202, first.text
    assert first.json["workflows"] == ["nudge"]
    assert first.json["duplicate"] is False
    await texted(desk, 1)
    (nudge,) = desk.received()
    assert nudge.startswith("Hi there, still thinking it over? Your cart is saved: " + CART)

    # The shop retries (its connection dropped): the same event, nothing starts again.
    again = await post(desk, idle(), token, **{"Idempotency-Key": "cart-42-idle"})
    assert (again.status, again.json["id"], again.json["duplicate"]) == (
        200,
        first.json["id"],
        True,
    )
    # The same key for other content is a mistake the shop must hear about.
    other = await post(
        desk, idle(data={"cart_url": "x"}), token, **{"Idempotency-Key": "cart-42-idle"}
    )
    assert other.status == 409, other.text
    # A new idle event an hour later: the recipe's once-a-day limit holds it back.
    desk.clock.advance(timedelta(hours=1))
    assert (await post(desk, idle(), token)).status == 202
    await desk.quiet(1)

    conversation = await desk.conversation()
    replies = [e["body"] for e in conversation["timeline"] if e.get("kind") == "agent.replied"]
    assert replies == [nudge]


async def test_a_customer_who_opted_out_is_not_nudged(desk: Desk) -> None:
    await desk.text_in("STOP")
    await texted(desk, 1)  # the STOP's own confirmation
    assert (await post(desk, idle())).status == 202
    await desk.quiet(1)


async def test_quiet_hours_hold_the_nudge_until_morning(desk: Desk) -> None:
    evening = desk.clock().astimezone(NEW_YORK).replace(hour=22, minute=30)
    desk.clock.set(evening)
    assert (await post(desk, idle())).status == 202
    await desk.quiet(0)
    desk.clock.set(evening.replace(hour=8, minute=1) + timedelta(days=1))
    await texted(desk, 1)


async def test_data_reaches_filters_and_templates(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    flows = [
        workflow(
            f"""
id: gold-nudge
trigger:
  event: cart.abandoned
  to: "{BUSINESS}"
  when: {{data: {{attribute: tier, eq: gold}}}}
start: nudge
steps:
  nudge: {{reply: "{{{{event.name}}}}: {{{{event.data.total | ?}}}} USD"}}
"""
        )
    ]
    clock = MovableClock(next_weekday_at(TUESDAY, time(10, 0), NEW_YORK))
    async with aiohttp.ClientSession() as session:
        desk = await open_desk(servers, server_stub, session, flows, clock)
        body = {"name": "cart.abandoned", "contact": {"phone": CONTACT}}
        assert (await post(desk, {**body, "data": {"tier": "silver", "total": 12}})).status == 202
        assert (await post(desk, {**body, "data": {"tier": "gold", "total": 80}})).status == 202
        await texted(desk, 1)
        await desk.quiet(1)
        assert desk.received() == ["cart.abandoned: 80 USD"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contact": {"phone": CONTACT}}, "body.name"),
        (idle(name="call.missed"), "body.name"),
        (idle(name="Checkout Idle"), "body.name"),
        (idle(contact={}), "body.contact.phone"),
        (idle(contact={"phone": "12"}), "body.contact.phone"),
        (idle(contact={"phone": "+1 (415) 000-0000"}), "body.contact.phone"),
        (idle(data=[1]), "body.data"),
        (idle(channel="fax"), "body.channel"),
        (idle(colour="red"), "body.colour"),
        (idle(line="555"), "body.line"),
    ],
)
async def test_malformed_events_are_refused_naming_the_field(
    desk: Desk, body: Any, field: str
) -> None:
    answer = await post(desk, body)
    assert answer.status == 422, answer.text
    assert field in [error["field"] for error in answer.json["errors"]], answer.json
    assert await desk.api.server.count("external_events") == 0


async def test_an_event_has_a_size_limit(desk: Desk) -> None:
    answer = await post(desk, idle(data={"blob": "x" * 40_000}))
    assert answer.status == 413, answer.text
    rows = await desk.api.server.db.read(
        lambda conn: conn.execute(select(external_events.c.id)).all()
    )
    assert rows == []
