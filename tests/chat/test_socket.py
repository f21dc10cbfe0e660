"""The chat socket on a real server (SQLite and PostgreSQL), spoken to as the widget speaks:
the demo chat workflow greets with answer buttons, a tap or a typed answer picks, an agent's
reply through the conversations API arrives live and a note never does, a reconnecting widget
gets what it missed once, and visitors are kept apart."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from chat.db import chat_messages, chat_visitors
from ringflow.metrics import METRICS
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.chat.widget_client import Widget, widget
from tests.conftest import RunningServer, ServerFactory, eventually
from workflows.contacts import contact_values, ensure_contact

IDENTITY_SECRET = "site-secret-0123456789abcdef"


@pytest.fixture
async def server(servers: ServerFactory) -> RunningServer:
    return await servers.start(admin_token=ADMIN_TOKEN, chat_identity_secret=IDENTITY_SECRET)


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)


async def conversation_of(api: ApiClient, visitor: str) -> int:
    """The id of the chat conversation of ``visitor`` (its id as the widget keeps it)."""
    address = "chat:" + visitor.split(".")[0]
    found: list[int] = []

    async def listed() -> bool:
        answer = await api.call("GET", "/conversations", params={"limit": "200"})
        found[:] = [c["id"] for c in answer.json["items"] if c["contact_number"] == address]
        return bool(found)

    await eventually(listed, what=f"the conversation of {address}")
    return found[0]


async def test_the_greeting_offers_answer_buttons_and_a_tap_answers(server: RunningServer) -> None:
    async with widget(server) as chat:
        greeting = await chat.wait_for_text("What can we help you with?")
        assert greeting["from"] == "bot"
        assert [(b["key"], b["label"]) for b in greeting["buttons"]] == [
            ("1", "Opening hours"),
            ("2", "Our address"),
            ("3", "Talk to a person"),
        ]
        await chat.say("Opening hours", choice="1", key="tap-1")
        answer = await chat.wait_for_text("We are open 9 to 6")
        assert answer["buttons"][0]["label"] == "Yes, something else"
        # The visitor's own message comes back once, under the key it was sent with.
        mine = [m for m in chat.messages if m["from"] == "visitor"]
        assert [(m["text"], m.get("client_key")) for m in mine] == [("Opening hours", "tap-1")]
        ids = [m["id"] for m in chat.messages]
        assert ids == sorted(set(ids))


async def test_a_typed_answer_picks_the_option_it_names(server: RunningServer) -> None:
    async with widget(server) as chat:
        await chat.wait_for_text("What can we help you with?")
        await chat.say("where are you?")
        await chat.wait_for_text("1 Example Street")


async def test_an_agent_reply_arrives_live_and_a_note_never(
    server: RunningServer, api: ApiClient
) -> None:
    async with widget(server) as chat:
        await chat.wait_for_text("What can we help you with?")
        await chat.say("Talk to a person", choice="3")
        await chat.wait_for_text("A person from our team will answer here shortly")
        conversation = await conversation_of(api, chat.visitor)
        path = f"/conversations/{conversation}"
        note = await api.call("POST", path + "/notes", json_body={"body": "VIP, be nice"})
        assert note.status == 201, note.text
        reply = await api.call("POST", path + "/replies", json_body={"body": "Hi, I'm Alice."})
        assert reply.status == 201, reply.text
        arrived = await chat.wait_for_text("Hi, I'm Alice.")
        assert arrived["from"] == "agent"
        assert not any("VIP" in text for text in chat.texts())
        # The automated hand-over message is the bot's, the person's reply the agent's.
        handover = next(m for m in chat.messages if "shortly" in m["text"])
        assert handover["from"] == "bot"
        timeline = (await api.call("GET", path)).json["timeline"]
        bodies = [(entry["kind"], (entry.get("message") or {}).get("body")) for entry in timeline]
        assert ("agent.replied", "Hi, I'm Alice.") in bodies


async def test_a_reconnecting_widget_gets_what_it_missed_once(
    server: RunningServer, api: ApiClient
) -> None:
    async with widget(server) as chat:
        await chat.wait_for_text("What can we help you with?")
        visitor, seen = chat.visitor, chat.messages[-1]["id"]
    conversation = await conversation_of(api, visitor)
    for body in ("Are you still there?", "We have news."):
        answer = await api.call(
            "POST", f"/conversations/{conversation}/replies", json_body={"body": body}
        )
        assert answer.status == 201
    async with widget(server, visitor=visitor, after=seen) as back:
        await back.wait_for_text("We have news.")
        assert back.visitor == visitor  # the same visitor, resumed
        assert back.texts() == ["Are you still there?", "We have news."]
        await api.call("POST", f"/conversations/{conversation}/replies", json_body={"body": "!"})
        await back.wait_for_text("!")
        assert back.texts() == ["Are you still there?", "We have news.", "!"]
    # A reloaded page asks from the start: the whole conversation, in order.
    async with widget(server, visitor=visitor) as reloaded:
        await reloaded.wait_for_text("!")
        assert reloaded.texts()[0].startswith("Hi! Welcome to Acme.")
        assert len(reloaded.messages) == 4


async def test_a_message_resent_with_its_key_is_kept_once(server: RunningServer) -> None:
    async with widget(server) as chat:
        await chat.wait_for_text("What can we help you with?")
        await chat.say("hello there", key="k-42")
        await chat.say("hello there", key="k-42")
        await chat.say("marker", key="k-43")
        await chat.wait_for_text("marker")
    visitors = await server.count("chat_messages")
    query = select(func.count()).where(chat_messages.c.body == "hello there")
    assert await server.db.read(lambda conn: conn.execute(query).scalar_one()) == 1
    assert visitors >= 3


async def test_another_visitor_id_cannot_read_the_conversation(server: RunningServer) -> None:
    async with widget(server) as alice:
        await alice.say("my order number is 1234")
        await alice.wait_for_text("my order number is 1234")
        token = alice.visitor
    public, signature = token.split(".")
    forgeries = [
        f"{public}.{signature[:-2]}AA",  # the public half known (it shows in the admin API)
        f"{public}.",
        public,
        "x" * 22 + "." + signature,
        None,
    ]
    for forged in forgeries:
        async with widget(server, visitor=forged) as intruder:
            await intruder.wait_for_text("What can we help you with?")
            assert intruder.visitor != token
            assert not any("1234" in text for text in intruder.texts())
            assert intruder.visitor.split(".")[0] != public


async def test_a_signed_identity_becomes_contact_attributes_and_a_forged_one_is_ignored(
    server: RunningServer,
) -> None:
    identity = json.dumps({"user_id": "42", "member": True, "tier": "gold"})
    good = hmac.new(IDENTITY_SECRET.encode(), identity.encode(), hashlib.sha256).hexdigest()
    forged_identity = json.dumps({"user_id": "42", "member": True, "tier": "platinum"})

    async def attributes(chat: Widget) -> dict[str, Any]:
        address = "chat:" + chat.visitor.split(".")[0]
        return await server.db.read(lambda conn: contact_values(conn, address))

    async with widget(server, identity=identity, identity_hmac=good) as member:
        welcome = member.frames[0]
        assert welcome["verified"] is True
        values = await attributes(member)
        assert (values["member"], values["tier"]) == (True, "gold")
        verified = member.visitor
    # Signed for another text: ignored, and the earlier identity is taken away.
    async with widget(
        server, visitor=verified, identity=forged_identity, identity_hmac=good
    ) as forger:
        assert forger.frames[0]["verified"] is False
        values = await attributes(forger)
        assert "tier" not in values
        assert "member" not in values
    async with widget(server, identity=identity, identity_hmac="0" * 64) as stranger:
        assert stranger.frames[0]["verified"] is False
        assert "member" not in await attributes(stranger)


async def test_messages_are_size_limited(server: RunningServer) -> None:
    async with widget(server) as chat:
        await chat.say("x" * 2001)
        await chat.wait(
            lambda w: any(f.get("code") == "too_long" for f in w.frames), "a too_long error"
        )
        await chat.say("   ")
        await chat.wait(lambda w: any(f.get("code") == "empty" for f in w.frames), "empty")
        await chat.ws.send_str("x" * 20000)  # over the 16 KiB frame limit: the socket closes
        await chat.wait(lambda w: w.ws.closed, "the socket to close")
        assert chat.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert await server.count("chat_messages") == 1  # only the greeting


async def test_only_the_configured_origins_may_open_the_chat(servers: ServerFactory) -> None:
    server = await servers.start(chat_origins="https://shop.example")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with widget(server, headers={"Origin": "https://evil.example"}):
            pass
    assert refused.value.status == 403
    async with widget(server, headers={"Origin": "https://shop.example"}) as chat:
        await chat.wait_for_text("What can we help you with?")


async def test_the_visitor_becomes_the_contact_of_their_phone_number(
    server: RunningServer,
) -> None:
    now = server.clock()
    await server.db.write(lambda conn: ensure_contact(conn, "+14155550123", now=now))
    async with widget(server) as chat:
        await chat.ws.send_json(
            {
                "type": "contact",
                "name": "Dana",
                "email": "Dana@Example.com",
                "phone": "+1 415 555 0123",
            }
        )
        await chat.wait(lambda w: any(f["type"] == "contact" for f in w.frames), "thanks")
        await chat.ws.send_json({"type": "contact", "phone": "not a number"})
        await chat.wait(lambda w: any(f.get("code") == "bad_phone" for f in w.frames), "refusal")
        public = chat.visitor.split(".")[0]
    row = await server.db.read(
        lambda conn: conn.execute(
            select(chat_visitors).where(chat_visitors.c.public_id == public)
        ).one()
    )
    assert (row.name, row.email, row.contact_number) == ("Dana", "dana@example.com", "+14155550123")
    phone_contact = await server.db.read(lambda conn: contact_values(conn, "+14155550123"))
    assert (phone_contact["name"], phone_contact["email"]) == ("Dana", "dana@example.com")
    # Another visitor giving only that email is matched to the same contact.
    async with widget(server) as again:
        await again.ws.send_json({"type": "contact", "email": "dana@example.com"})
        await again.wait(lambda w: any(f["type"] == "contact" for f in w.frames), "thanks")
        other = again.visitor.split(".")[0]
    matched = await server.db.read(
        lambda conn: conn.execute(
            select(chat_visitors.c.contact_number).where(chat_visitors.c.public_id == other)
        ).scalar()
    )
    assert matched == "+14155550123"


async def test_open_sockets_are_counted(server: RunningServer) -> None:
    registry = server.app[METRICS].registry

    def open_now() -> float | None:
        return registry.get_sample_value("ringflow_chat_connections")

    async with widget(server) as one, widget(server) as two:
        await one.wait_for_text("What can we help you with?")
        await two.wait_for_text("What can we help you with?")
        assert open_now() == 2
    await eventually(lambda: open_now() == 0, what="the sockets to be counted closed")
