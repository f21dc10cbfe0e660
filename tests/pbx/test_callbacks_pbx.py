"""Callbacks on an Asterisk line: a real Ringflow server given AMI settings places a callback
request with an ``Originate`` to the agent's SIP endpoint on the local AMI server, and the
PBX's events (the agent answers or not, the dial to the customer ends) decide the attempt;
the originated channel is not taken for an incoming call (no call logged, no missed-call
text)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sms.optouts import opt_out
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.conftest import ServerFactory, eventually
from tests.fakes.ami_server import FakeAsterisk
from tests.fakes.twilio_api import TwilioApiStub
from tests.pbx.test_adapter import FLOWS, LINE, Pbx, start_pbx
from workflows.people.agents import AgentFields, Endpoint, put_agent
from workflows.people.teams import TeamFields, put_team

CUSTOMER = "+14155550123"
AGENT_CHANNEL = "PJSIP/1001-00000099"
"""The channel the fake PBX creates for an Originate to PJSIP/1001."""


@pytest.fixture
async def ami() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk() as running:
        running.add_member("support", "PJSIP/1001", "Alice")
        yield running


@pytest.fixture
async def pbx(servers: ServerFactory, ami: FakeAsterisk, server_stub: TwilioApiStub) -> Pbx:
    pbx = await start_pbx(servers, ami, server_stub, FLOWS, admin_token=ADMIN_TOKEN)
    now = pbx.server.clock()

    def people(conn: Any) -> None:
        fields = AgentFields(endpoints=(Endpoint("sip", "PJSIP/1001"),), status="available")
        put_agent(conn, "alice", fields, now)
        put_team(conn, "support", TeamFields(members=("alice",)), now)

    await pbx.server.db.write(people)
    return pbx


@pytest.fixture
async def api(pbx: Pbx) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(pbx.server, session)


async def request(api: ApiClient, **extra: Any) -> dict[str, Any]:
    body = {"team": "support", "customer": CUSTOMER, "from": LINE, **extra}
    answer = await api.call("POST", "/callbacks", json_body=body)
    assert answer.status == 201, answer.text
    created: dict[str, Any] = answer.json
    return created


async def callback(api: ApiClient, callback_id: int) -> dict[str, Any]:
    answer = await api.call("GET", f"/callbacks/{callback_id}")
    assert answer.status == 200, answer.text
    found: dict[str, Any] = answer.json
    return found


async def status_is(api: ApiClient, callback_id: int, wanted: str) -> bool:
    found = await callback(api, callback_id)
    return bool(found["status"] == wanted)


async def answered_by_agent(api: ApiClient, callback_id: int) -> bool:
    """The agent's answer is recorded: their channel is the placement's agent call."""
    found = await callback(api, callback_id)
    history = found["history"]
    return (
        found["status"] == "calling"
        and bool(history)
        and (history[0]["agent_call_sid"] == AGENT_CHANNEL)
    )


async def dial_ends(pbx: Pbx, status: str) -> None:
    """The dialplan in the callback context dialled the customer from the agent's channel;
    that dial ended with ``status`` (Asterisk's DialStatus), then the agent's channel hung up."""
    common = {"Privilege": "call,all", "Channel": AGENT_CHANNEL, "Context": "ringflow-callbacks"}
    uniqueid = next(u for u, c in pbx.ami.channels.items() if c["Channel"] == AGENT_CHANNEL)
    await pbx.ami.emit(
        {
            "Event": "DialBegin",
            **common,
            "Uniqueid": uniqueid,
            "DestChannel": "PJSIP/trunk-00000100",
            "DestUniqueid": "1764730999.101",
            "DialString": f"{CUSTOMER}@trunk",
        }
    )
    await pbx.ami.emit(
        {
            "Event": "DialEnd",
            **common,
            "Uniqueid": uniqueid,
            "DestChannel": "PJSIP/trunk-00000100",
            "DestUniqueid": "1764730999.101",
            "DialStatus": status,
        }
    )
    await pbx.ami.emit({"Event": "Hangup", **common, "Uniqueid": uniqueid, "Cause": "16"})


async def test_a_callback_rings_the_agent_then_the_customer_through_the_pbx(
    pbx: Pbx, api: ApiClient
) -> None:
    created = await request(api)
    await eventually(lambda: pbx.ami.received("Originate"), what="the Originate")
    [sent] = pbx.ami.received("Originate")
    assert (sent["Channel"], sent["Context"], sent["Exten"]) == (
        "PJSIP/1001",
        "ringflow-callbacks",
        CUSTOMER,
    )
    assert sent["CallerID"] == LINE
    assert sent["Variable"] == f"RINGFLOW_ORIGINATE=callback-{created['id']}-1"

    await eventually(lambda: answered_by_agent(api, created["id"]), what="the agent's answer")
    await dial_ends(pbx, "ANSWER")

    await eventually(lambda: status_is(api, created["id"], "connected"), what="connected")
    done = await callback(api, created["id"])
    assert done["attempts"] == 1
    assert done["agent"] == "alice"
    [attempt] = done["history"]
    assert attempt["outcome"] == "answered"
    assert attempt["agent_call_sid"] == AGENT_CHANNEL
    # The originated channel is the callback's, not an incoming call: nothing else happened.
    assert await pbx.call_log() == {}
    assert pbx.texts() == []
    assert len(pbx.ami.received("Originate")) == 1


async def test_a_customer_who_does_not_answer_is_an_attempt_and_waits_for_the_next(
    pbx: Pbx, api: ApiClient
) -> None:
    created = await request(api, attempts=2, retry_delay=600)
    await eventually(lambda: pbx.ami.received("Originate"), what="the Originate")

    await eventually(lambda: answered_by_agent(api, created["id"]), what="the agent's answer")
    await dial_ends(pbx, "NOANSWER")

    await eventually(lambda: status_is(api, created["id"], "pending"), what="back in line")
    found = await callback(api, created["id"])
    assert found["attempts"] == 1
    assert found["history"][0]["outcome"] == "no-answer"


async def test_an_agent_who_does_not_answer_passes_it_on_without_spending_an_attempt(
    pbx: Pbx, api: ApiClient
) -> None:
    pbx.ami.originate_failure = "3"  # no answer
    created = await request(api)
    await eventually(lambda: pbx.ami.received("Originate"), what="the Originate")

    async def passed_on() -> bool:
        found = await callback(api, created["id"])
        return found["status"] == "pending" and bool(found["history"])

    await eventually(passed_on, what="the placement ended")
    found = await callback(api, created["id"])
    assert found["attempts"] == 0
    assert found["history"][0]["outcome"] == "agent-no-answer"


async def test_a_number_that_opts_out_while_the_agent_is_rung_is_not_dialled(
    pbx: Pbx, api: ApiClient
) -> None:
    pbx.ami.answer_originates = False  # the test answers for the agent below
    created = await request(api)
    await eventually(lambda: pbx.ami.received("Originate"), what="the Originate")
    now = pbx.server.clock()
    await pbx.server.db.write(lambda conn: opt_out(conn, CUSTOMER, "keyword", now=now))
    [sent] = pbx.ami.received("Originate")
    await pbx.ami.emit(
        {
            "Event": "OriginateResponse",
            "ActionID": sent["ActionID"],
            "Response": "Success",
            "Channel": AGENT_CHANNEL,
            "Context": "ringflow-callbacks",
            "Exten": CUSTOMER,
            "Reason": "4",
            "Uniqueid": "1764730999.99",
        }
    )
    # Checked again when the agent answered: the agent's channel is hung up at once.
    await eventually(lambda: pbx.ami.received("Hangup"), what="the agent's channel hung up")
    assert pbx.ami.received("Hangup")[0]["Channel"] == AGENT_CHANNEL
    found = await callback(api, created["id"])
    assert found["status"] == "failed"
    assert found["history"][0]["outcome"] == "opted-out"
    assert found["attempts"] == 0
