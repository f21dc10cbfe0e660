"""External events on the chat channel (SQLite and PostgreSQL): an event names the customer by
phone, and its workflow's message reaches the chat visitor who gave that number, live, in
their own conversation; a visitor who gave another number (or none) gets nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.chat.test_socket import conversation_of
from tests.chat.widget_client import Widget, widget
from tests.conftest import RunningServer, ServerFactory, workflow

NUDGE = """\
id: nudge
trigger: {event: checkout.idle, to: "+15005550006"}
start: nudge
steps:
  nudge:
    reply: "Hi {{contact.name | there}}, your cart is saved."
"""


@pytest.fixture
async def server(servers: ServerFactory) -> RunningServer:
    return await servers.start([workflow(NUDGE)], admin_token=ADMIN_TOKEN)


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)


async def introduce(chat: Widget, name: str, phone: str) -> None:
    await chat.ws.send_json({"type": "contact", "name": name, "phone": phone})
    await chat.wait(lambda w: any(f["type"] == "contact" for f in w.frames), "thanks")


async def idle(api: ApiClient, phone: str) -> None:
    event = {"name": "checkout.idle", "contact": {"phone": phone}, "channel": "chat"}
    answer = await api.call("POST", "/events", json_body=event)
    assert answer.status == 202, answer.text
    assert answer.json["workflows"] == ["nudge"]


async def test_an_event_reaches_the_visitor_who_gave_its_phone_number(
    server: RunningServer, api: ApiClient
) -> None:
    async with widget(server) as ana, widget(server) as bo, widget(server) as anonymous:
        await introduce(ana, "Ana", "+14155550123")
        await introduce(bo, "Bo", "+14155550124")
        await idle(api, "+14155550123")
        nudge = await ana.wait_for_text("Hi Ana, your cart is saved.")
        assert nudge["from"] == "bot"
        # It is Ana's own chat conversation (the inbox shows it as hers, and she can answer).
        conversation = await conversation_of(api, ana.visitor)
        detail = await api.call("GET", f"/conversations/{conversation}")
        bodies = [e["body"] for e in detail.json["timeline"] if e["body"]]
        assert bodies == ["Hi Ana, your cart is saved."]
        # An event for a number nobody on the chat gave, then Bo's: each visitor gets their
        # own nudge only, and the visitor who gave no number nothing.
        await idle(api, "+14155550199")
        await idle(api, "+14155550124")
        await bo.wait_for_text("Hi Bo, your cart is saved.")
        assert bo.texts() == ["Hi Bo, your cart is saved."]
        assert ana.texts() == ["Hi Ana, your cart is saved."]
        assert anonymous.texts() == []
