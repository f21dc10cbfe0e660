"""Helpers for the people and conversation API tests: a server on a movable clock with an
admin client, agents and their tokens, and texts through the real SMS webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from ringflow.admin.tokens import create_token
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually, signed_post
from workflows.people.agents import find_agent

BUSINESS = "+15005550001"
CONTACT = "+14155550123"


@dataclass
class Desk:
    """A running server, its clock and an admin client."""

    api: ApiClient
    clock: MovableClock

    async def agent(self, name: str, **fields: Any) -> dict[str, Any]:
        """Create the agent ``name`` (available unless told) through the API."""
        body = {"status": "available", **fields}
        answer = await self.api.call("PUT", f"/agents/{name}", json_body=body)
        assert answer.status == 201, answer.text
        created: dict[str, Any] = answer.json
        return created

    async def agent_token(self, name: str) -> str:
        """A token bound to the agent ``name`` (as ``ringflow agents token NAME`` makes)."""
        db, now = self.api.server.db, self.clock()

        def make(conn: Any) -> str:
            agent = find_agent(conn, name)
            assert agent is not None
            return create_token(conn, f"agent:{name}", now, agent_id=agent.id)

        token: str = await db.write(make)
        return token

    async def text_in(self, body: str, sid: str, sender: str = CONTACT) -> None:
        """A text received through Twilio's signed webhook."""
        form = {"MessageSid": sid, "From": sender, "To": BUSINESS, "Body": body}
        reply = await signed_post(self.api.server, "/twilio/sms", form)
        assert reply.status == 200, reply.text

    async def conversations(self, **params: str) -> dict[str, Any]:
        answer = await self.api.call("GET", "/conversations", params=params or None)
        assert answer.status == 200, answer.text
        page: dict[str, Any] = answer.json
        return page

    async def conversation_of(self, contact: str = CONTACT) -> dict[str, Any]:
        """The latest conversation with ``contact`` (waiting for it to exist)."""
        found: list[dict[str, Any]] = []

        async def listed() -> bool:
            items = (await self.conversations(limit="200"))["items"]
            found[:] = [c for c in items if c["contact_number"] == contact and c["latest"]]
            return bool(found)

        await eventually(listed, what=f"a conversation with {contact}")
        return found[0]

    async def detail(self, conversation_id: int, token: str | None = None) -> dict[str, Any]:
        answer = await self.api.call(
            "GET", f"/conversations/{conversation_id}", token=token or True
        )
        assert answer.status == 200, answer.text
        found: dict[str, Any] = answer.json
        return found

    async def act(
        self, conversation_id: int, action: str, body: Any = None, token: str | None = None
    ) -> Any:
        answer = await self.api.call(
            "POST",
            f"/conversations/{conversation_id}/{action}",
            json_body=body,
            token=token or True,
        )
        assert answer.status in (200, 201), answer.text
        return answer.json


@pytest.fixture
async def desk(servers: ServerFactory) -> AsyncIterator[Desk]:
    clock = MovableClock()
    server = await servers.start(admin_token=ADMIN_TOKEN, clock=clock)
    async with aiohttp.ClientSession() as session:
        yield Desk(ApiClient(server, session), clock)
