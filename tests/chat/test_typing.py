"""Typing indicators on the wire (SQLite and PostgreSQL): an agent signed in to the inbox says it
is typing a reply and the visitor's socket gets ``{"type": "typing", "from": "agent", "name"}``
before the reply itself; a visitor's ``{"type": "typing"}`` reaches the inbox's live stream
as its own conversation's id, whatever conversation the frame names; nothing is stored; a
signal too soon after the last one is dropped; the endpoint needs the session's CSRF token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat.typing import AT_MOST, SEND_EVERY_S, Throttle
from tests.chat.test_socket import conversation_of
from tests.chat.widget_client import widget
from tests.ringflow.admin.people import CONTACT, Desk, desk
from tests.ringflow.inbox.conftest import Agent, sign_in
from tests.ringflow.inbox.test_live import _events

__all__ = ["desk"]

GREETING = "What can we help you with?"


@pytest.fixture
async def alice(desk: Desk) -> AsyncIterator[Agent]:
    """The agent alice (display name "Alice Smith"), signed in to the inbox."""
    agent = await sign_in(desk, "alice")
    named = await desk.api.call(
        "PUT", "/agents/alice", json_body={"status": "available", "display_name": "Alice Smith"}
    )
    assert named.status == 200, named.text
    try:
        yield agent
    finally:
        await agent.http.close()


async def _stored(desk: Desk) -> tuple[int, ...]:
    server = desk.api.server
    tables = ("chat_messages", "conversation_events", "conversations", "jobs")
    return tuple([await server.count(table) for table in tables])


async def _typing(events: AsyncIterator[tuple[str, Any]]) -> Any:
    async for name, data in events:
        if name == "typing":
            return data
    raise AssertionError("the stream ended")


async def test_an_agent_typing_shows_in_the_widget_before_the_reply(
    desk: Desk, alice: Agent
) -> None:
    async with widget(desk.api.server) as chat:
        await chat.wait_for_text(GREETING)
        conversation = await conversation_of(desk.api, chat.visitor)
        path = f"/conversations/{conversation}/typing"
        before = await _stored(desk)

        assert (await alice.api("POST", path)).status == 204
        await chat.wait(lambda w: bool(w.typing_frames()), "a typing frame")
        assert chat.typing_frames() == [{"type": "typing", "from": "agent", "name": "Alice Smith"}]
        # A page that does not hold back: every call accepted, a few passed on.
        for _ in range(AT_MOST):
            assert (await alice.api("POST", path)).status == 204
        await chat.wait(lambda w: len(w.typing_frames()) == AT_MOST, "the typing frames")
        # Without the page's CSRF token: refused, like a reply.
        assert (await alice.api("POST", path, csrf=None)).status == 403

        # Later, an admin token (no display name): "someone", which the widget names.
        await asyncio.sleep(SEND_EVERY_S)
        assert (await desk.api.call("POST", path)).status == 204
        await chat.wait(lambda w: len(w.typing_frames()) == AT_MOST + 1, "the admin's frame")
        assert chat.typing_frames()[-1]["name"] is None
        assert await _stored(desk) == before  # ephemeral: not a row anywhere

        reply = await alice.api(
            "POST", f"/conversations/{conversation}/replies", {"body": "Alice here."}
        )
        assert reply.status == 201
        await chat.wait_for_text("Alice here.")
        kinds = [(f["type"], f.get("text")) for f in chat.frames]
        assert kinds.index(("typing", None)) < kinds.index(("message", "Alice here."))
        assert len(chat.typing_frames()) == AT_MOST + 1


async def test_typing_elsewhere_shows_nothing_and_an_unknown_conversation_is_a_404(
    desk: Desk, alice: Agent
) -> None:
    await desk.text_in("A text, not a chat", "SM" + "1" * 32)
    texted = await desk.conversation_of(CONTACT)
    assert (await alice.api("POST", f"/conversations/{texted['id']}/typing")).status == 204
    missing = await alice.api("POST", "/conversations/999999/typing")
    assert missing.status == 404


async def test_a_visitor_typing_tells_the_inbox_their_own_conversation(
    desk: Desk, alice: Agent
) -> None:
    server = desk.api.server
    async with widget(server) as one, widget(server) as other:
        await one.wait_for_text(GREETING)
        await other.wait_for_text(GREETING)
        mine = await conversation_of(desk.api, one.visitor)
        theirs = await conversation_of(desk.api, other.visitor)
        assert mine != theirs
        events = _events(alice)
        try:
            assert await anext(events) == ("ready", {})
            before = await _stored(desk)
            # The frame names another visitor's conversation: the server uses the sender's.
            await other.typing(conversation=mine)
            assert await asyncio.wait_for(_typing(events), 10) == {"ids": [theirs]}
            await one.typing()
            assert await asyncio.wait_for(_typing(events), 10) == {"ids": [mine]}
            assert await _stored(desk) == before
        finally:
            await events.aclose()
        # The socket is still fine: typing is no error, and nothing came back for it.
        await one.say("are you there?")
        await one.wait_for_text("are you there?")
        assert not [f for f in one.frames if f["type"] in ("error", "typing")]


def test_the_throttle_passes_a_few_signals_per_window() -> None:
    now = [100.0]
    throttle = Throttle(window=2.0, at_most=2, now=lambda: now[0])
    assert [throttle.allow("a") for _ in range(3)] == [True, True, False]
    assert throttle.allow("b")  # each conversation (or socket) on its own
    now[0] += 1.0
    assert not throttle.allow("a")
    now[0] += 1.0  # the first two are 2 s old
    assert throttle.allow("a")
