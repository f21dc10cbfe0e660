"""A desk for the automation tests: a real server (webhooks, admin API, job worker) on a
movable clock, texting through Twilio's REST fake, with the workflows under test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually, jobs_settled, signed_post
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_post_call_texts import EXAMPLES
from workflows.jobs.db import jobs
from workflows.loader import Workflow

BUSINESS = "+15005550001"
CONTACT = "+14155550123"


def _sids() -> Iterator[str]:
    return (f"SM{n:032d}" for n in itertools.count(1))


@dataclass
class Desk:
    """The server, its clock, an admin client and the texts the contact received."""

    api: ApiClient
    clock: MovableClock
    stub: TwilioApiStub
    sids: Iterator[str] = field(default_factory=_sids)

    async def text_in(self, body: str, sender: str = CONTACT) -> None:
        """A text received through Twilio's signed webhook."""
        form = {
            "MessageSid": next(self.sids),
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": BUSINESS,
            "Body": body,
        }
        reply = await signed_post(self.api.server, "/twilio/sms", form)
        assert reply.status == 200, reply.text

    def received(self, to: str = CONTACT) -> list[str]:
        """The texts the stub accepted for ``to``, in order."""
        return [m.body for m in self.stub.accepted if m.to == to]

    async def expect(self, *bodies: str, to: str = CONTACT, within: float = 5.0) -> None:
        """Wait until ``to`` has received exactly ``bodies`` so far."""
        await eventually(
            lambda: len(self.received(to)) >= len(bodies), within=within, what=str(bodies)
        )
        assert self.received(to) == list(bodies)

    async def conversation(self, contact: str = CONTACT) -> dict[str, Any]:
        """The latest conversation with ``contact``, with its timeline (waiting for it)."""
        found: list[int] = []

        async def listed() -> bool:
            answer = await self.api.call("GET", "/conversations", params={"limit": "200"})
            items = answer.json["items"]
            found[:] = [c["id"] for c in items if c["contact_number"] == contact and c["latest"]]
            return bool(found)

        await eventually(listed, what=f"a conversation with {contact}")
        return await self.detail(found[0])

    async def detail(self, conversation_id: int) -> dict[str, Any]:
        answer = await self.api.call("GET", f"/conversations/{conversation_id}")
        assert answer.status == 200, answer.text
        detail: dict[str, Any] = answer.json
        return detail

    async def act(self, conversation_id: int, action: str, body: Any = None) -> Any:
        answer = await self.api.call(
            "POST", f"/conversations/{conversation_id}/{action}", json_body=body
        )
        assert answer.status in (200, 201), answer.text
        return answer.json

    async def install(self, recipe: str, **parameters: Any) -> None:
        """Install ``recipe`` with ``parameters`` and publish it, in one call."""
        answer = await self.api.call(
            "POST",
            f"/recipes/{recipe}/install",
            json_body={"parameters": parameters, "publish": True},
        )
        assert answer.status == 201, answer.text

    async def put(self, path: str, body: Any) -> Any:
        answer = await self.api.call("PUT", path, json_body=body)
        assert answer.status in (200, 201), answer.text
        return answer.json

    async def settled(self, *prefixes: str) -> None:
        """Wait until no job whose dedupe key starts with one of ``prefixes`` is due or
        running (jobs due later stay queued)."""
        await jobs_settled(self.api.server, *prefixes)

    async def timers(self) -> list[tuple[str, str]]:
        """(dedupe key, status) of every conversation timer job."""
        query = select(jobs.c.dedupe_key, jobs.c.status).where(
            jobs.c.dedupe_key.like("conversation-timer:%")
        )
        rows = await self.api.server.db.read(lambda conn: conn.execute(query).all())
        return sorted((row.dedupe_key, row.status) for row in rows)

    async def advance(self, delta: timedelta) -> None:
        """Move the server's clock and let its worker look at the jobs now due."""
        self.clock.advance(delta)
        await self.settled("conversation-", "conversation:", "run:")

    async def quiet(self, count: int, to: str = CONTACT) -> None:
        """Nothing more reaches ``to`` once every job due now has run."""
        await jobs_settled(self.api.server)
        assert len(self.received(to)) == count, self.received(to)


def kinds(detail: dict[str, Any]) -> list[str]:
    """The kinds of a conversation's timeline events (not the channel's own records)."""
    return [e["kind"] for e in detail["timeline"] if e.get("kind") != "message"]


def notes(detail: dict[str, Any]) -> list[str]:
    return [e["body"] for e in detail["timeline"] if e.get("kind") == "note"]


def automated_replies(detail: dict[str, Any]) -> list[str]:
    return [
        e["body"]
        for e in detail["timeline"]
        if e.get("kind") == "agent.replied" and e["actor"]["type"] == "automation"
    ]


async def open_desk(
    servers: ServerFactory,
    stub: TwilioApiStub,
    session: aiohttp.ClientSession,
    flows: Sequence[Workflow],
    clock: MovableClock,
    flows_dir: Path = EXAMPLES,  # for its schedules folder (office)
) -> Desk:
    """A server running ``flows`` on ``clock``, texting through ``stub``."""
    server = await servers.start(
        flows,
        clock=clock,
        admin_token=ADMIN_TOKEN,
        flows_dir=flows_dir,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=stub.base_url,
    )
    return Desk(ApiClient(server, session), clock, stub)
