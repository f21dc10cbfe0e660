"""``/inbox/live``: the ids of conversations that changed reach every open inbox, from any
server instance sharing the database (LISTEN/NOTIFY on PostgreSQL), and a stream ends with its
session; and :class:`InboxLive` itself: ids committed out of order are not lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from ringflow.inbox.live import InboxLive
from tests.ringflow.admin.people import CONTACT, Desk
from tests.ringflow.inbox.conftest import Agent, sign_in
from workflows.conversations.events import record
from workflows.conversations.model import AUTOMATION


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


async def test_an_event_committed_after_a_later_one_is_still_told(desk: Desk) -> None:
    """PostgreSQL hands out ids before commit: id n may commit after n+1 was read."""
    if desk.api.server.db.url.get_backend_name() != "postgresql":
        return  # SQLite has one writer: ids commit in order
    await desk.text_in("First", "SM" + "9" * 32)
    slow_one = await desk.conversation_of(CONTACT)
    await desk.text_in("Second", "SM" + "8" * 32, sender="+14155550177")
    fast_one = await desk.conversation_of("+14155550177")
    hub = InboxLive(desk.api.server.db)
    await hub.start()
    listener = hub.join()
    engine = create_async_engine(desk.api.server.db.url)
    try:
        async with engine.connect() as slow:
            transaction = await slow.begin()
            await slow.run_sync(
                lambda conn: record(
                    conn, slow_one["id"], "note", AUTOMATION, desk.clock(), body="x"
                )
            )  # takes id n, not committed yet
            await desk.act(fast_one["id"], "notes", {"body": "y"})  # n+1, committed
            await hub.changed()
            assert listener.take()[1] == [fast_one["id"]]
            await transaction.commit()
        await hub.changed()
        assert listener.take()[1] == [slow_one["id"]]
        await hub.changed()
        assert listener.take()[1] == []  # told once
    finally:
        await engine.dispose()
        hub.leave(listener)
