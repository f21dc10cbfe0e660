"""The recipe "missed-call text for an Asterisk line", end to end: installed with one call of
the admin API on a server that follows a local AMI server; calls recorded on the PBX text the
caller (or, after hours, the after-hours recipe's text) through the job worker and the Twilio
provider to the Messages API stub."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from ringflow.resources.pbx import PBX
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MONDAY, SATURDAY, MovableClock, next_weekday_at
from tests.conftest import ServerFactory, eventually, jobs_settled
from tests.fakes.ami_server import FakeAsterisk, read_events
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from workflows.call_log import calls

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "post-call"
NEW_YORK = ZoneInfo("America/New_York")
LINE = "+15005550001"
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), NEW_YORK)
SATURDAY_10 = next_weekday_at(SATURDAY, time(10, 0), NEW_YORK, after=MONDAY_10)


@pytest.fixture
async def site(
    servers: ServerFactory, server_stub: TwilioApiStub, tmp_path: Path
) -> AsyncIterator[tuple[ApiClient, FakeAsterisk, MovableClock]]:
    flows = tmp_path / "flows"
    (flows / "schedules").mkdir(parents=True)
    shutil.copy(EXAMPLES / "schedules" / "office.yaml", flows / "schedules" / "office.yaml")
    clock = MovableClock(MONDAY_10)
    async with FakeAsterisk() as ami:
        server = await servers.start(
            [],
            clock=clock,
            flows_dir=flows,
            admin_token=ADMIN_TOKEN,
            twilio_account_sid=ACCOUNT_SID,
            twilio_api_base_url=server_stub.base_url,
            ami_host="127.0.0.1",
            ami_port=ami.port,
            ami_username=ami.username,
            ami_secret=ami.secret,
        )
        await asyncio.wait_for(server.app[PBX].connected.wait(), 10)
        async with aiohttp.ClientSession() as session:
            yield ApiClient(server, session), ami, clock


async def install(api: ApiClient, recipe: str, **parameters: object) -> None:
    answer = await api.call(
        "POST",
        f"/recipes/{recipe}/install",
        json_body={"parameters": parameters, "publish": True},
    )
    assert answer.status == 201, answer.text


async def outcome(api: ApiClient, sid: str) -> str:
    query = select(calls.c.outcome).where(calls.c.sid == sid)

    async def ended() -> str | None:
        value = await api.server.db.read(lambda conn: conn.execute(query).scalar())
        return value if isinstance(value, str) else None

    await eventually(ended, what=f"call {sid} to end")
    found = await ended()
    assert found is not None
    return found


async def test_a_missed_call_on_the_pbx_line_texts_the_caller(
    site: tuple[ApiClient, FakeAsterisk, MovableClock], server_stub: TwilioApiStub
) -> None:
    api, ami, clock = site
    await install(
        api,
        "pbx-missed-call-text",
        workflow_id="pbx-missed",
        numbers=[LINE],
        business_name="Acme",
        hours="office",
    )
    await install(
        api,
        "after-hours-text",
        workflow_id="pbx-closed",
        numbers=[LINE],
        business_name="Acme",
        hours="office",
    )

    await ami.play(read_events("missed"))
    assert await outcome(api, "ami-1764730201.40") == "missed"
    await eventually(lambda: len(server_stub.accepted) == 1, what="the missed-call text")
    (text,) = server_stub.accepted
    assert (text.to, text.from_) == ("+14155550177", LINE)
    assert text.body == (
        "Hi there, sorry we missed your call to Acme. We will call you back soon."
        " Reply STOP to opt out."
    )

    # On Saturday the office is closed: a caller who gives up in the queue gets the
    # after-hours text instead, not the missed-call one.
    clock.set(SATURDAY_10)
    await ami.play(read_events("queue-abandoned"))
    assert await outcome(api, "ami-1764730301.50") == "after_hours"
    await eventually(lambda: len(server_stub.accepted) == 2, what="the after-hours text")
    closed = server_stub.accepted[1]
    assert closed.to == "+14155550188"
    assert closed.body.startswith("Thanks for calling Acme. We're closed right now; we open")

    # An answered call texts nothing (no workflow takes call.ended here).
    await ami.play(read_events("answered"))
    assert await outcome(api, "ami-1764730101.36") == "ended"
    await jobs_settled(api.server)
    assert len(server_stub.accepted) == 2
