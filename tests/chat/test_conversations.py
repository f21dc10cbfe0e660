"""External events on the chat channel (SQLite and PostgreSQL): an event names the customer by
phone, and its workflow's message reaches the chat visitor the site signed in with that phone
number (a verified identity), live, in their own conversation; a visitor who only typed the
number, or another one, gets nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.chat.test_socket import IDENTITY_SECRET, conversation_of
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
    return await servers.start(
        [workflow(NUDGE)], admin_token=ADMIN_TOKEN, chat_identity_secret=IDENTITY_SECRET
    )


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)


def signed_in(user_id: str, phone: str) -> dict[str, Any]:
    """The hello fields of a visitor the site signed in, its identity carrying ``phone``."""
    identity = json.dumps({"user_id": user_id, "phone": phone})
    mac = hmac.new(IDENTITY_SECRET.encode(), identity.encode(), hashlib.sha256).hexdigest()
    return {"identity": identity, "identity_hmac": mac}


async def introduce(chat: Widget, name: str, phone: str) -> None:
    await chat.ws.send_json({"type": "contact", "name": name, "phone": phone})
    await chat.wait(lambda w: any(f["type"] == "contact" for f in w.frames), "thanks")


async def idle(api: ApiClient, phone: str) -> None:
    event = {"name": "checkout.idle", "contact": {"phone": phone}, "channel": "chat"}
    answer = await api.call("POST", "/events", json_body=event)
    assert answer.status == 202, answer.text
    assert answer.json["workflows"] == ["nudge"]


async def test_an_event_reaches_the_visitor_signed_in_with_its_phone_number(
    server: RunningServer, api: ApiClient
) -> None:
    ana_hello = signed_in("42", "+14155550123")
    bo_hello = signed_in("43", "+14155550124")
    async with (
        widget(server, **ana_hello) as ana,
        widget(server, **bo_hello) as bo,
        widget(server) as typist,
    ):
        # Typing someone's number in "Me" makes it no one's: it is not verified.
        await introduce(typist, "", "+14155550123")
        await idle(api, "+14155550123")
        nudge = await ana.wait_for_text("your cart is saved.")
        assert nudge["from"] == "bot"
        # It is Ana's own chat conversation (the inbox shows it as hers, and she can answer).
        conversation = await conversation_of(api, ana.visitor)
        detail = await api.call("GET", f"/conversations/{conversation}")
        bodies = [e["body"] for e in detail.json["timeline"] if e["body"]]
        assert bodies == ["Hi there, your cart is saved."]
        # An event for a number nobody signed in with, then Bo's: each visitor gets their
        # own nudge only, and the one who typed Ana's number nothing.
        await idle(api, "+14155550199")
        await idle(api, "+14155550124")
        await bo.wait(lambda w: bool(w.texts()), "Bo's nudge")
        assert bo.texts() == ["Hi there, your cart is saved."]
        assert ana.texts() == ["Hi there, your cart is saved."]
        assert typist.texts() == []
