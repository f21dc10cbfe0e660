"""``/inbox/live``: the ids of conversations that changed reach every open inbox, from any
server instance sharing the database (LISTEN/NOTIFY on PostgreSQL), and a stream ends with its
session; and :class:`InboxLive` itself: ids committed out of order are not lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from tests.ringflow.admin.people import CONTACT, Desk
from tests.ringflow.inbox.conftest import Agent, sign_in


async def _events(agent: Agent, base_url: str | None = None) -> AsyncGenerator[tuple[str, Any]]:
    """The live stream's events as (name, data), from ``base_url`` (default: the agent's)."""
    async with agent.http.get((base_url or agent.base_url) + "/inbox/live") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        name, data = "message", ""
        async for raw in stream.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and data:
                yield name, json.loads(data)
                name, data = "message", ""


async def _changed_ids(events: AsyncIterator[tuple[str, Any]], until: int) -> set[int]:
    """Changed ids told by ``events`` until ``until`` is among them."""
    seen: set[int] = set()
    async for name, data in events:
        if name == "changed":
            seen.update(data["ids"])
            if until in seen:
                return seen
    raise AssertionError("the stream ended")


async def test_a_text_in_tells_an_open_inbox_which_conversation_changed(desk: Desk) -> None:
    agent = await sign_in(desk, "alice")
    try:
        events = _events(agent)
        assert await anext(events) == ("ready", {})
        await desk.text_in("Hello there", "SM" + "7" * 32)
        conversation = await desk.conversation_of(CONTACT)
        ids = await asyncio.wait_for(_changed_ids(events, conversation["id"]), 10)
        assert ids == {conversation["id"]}
        # An agent's note, through the API with a token: told too.
        await desk.act(conversation["id"], "notes", {"body": "looking"})
        assert conversation["id"] in await asyncio.wait_for(
            _changed_ids(events, conversation["id"]), 10
        )
        await events.aclose()
    finally:
        await agent.http.close()
