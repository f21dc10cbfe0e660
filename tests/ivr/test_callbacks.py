"""Callbacks end to end: a caller presses 2 in the menu of a real server (signed webhooks),
the server's own job worker places the callback through Twilio's Calls API (TwilioApiStub,
over HTTP), and the test plays Twilio's part for the calls it placed: it posts the agent
leg's webhooks (signed), presses the agent's key, answers (or not) as the customer.

The team's schedule is New York time, Monday to Friday 09:00-17:00, quiet hours 21:00-08:00.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.softphone import ScriptedCaller, Softphone
from sms.optouts import opt_out
from tests.clock import MONDAY, SATURDAY, MovableClock, next_weekday_at, on_day_at
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    eventually,
    jobs_settled,
    signed_post,
)
from tests.fakes.twilio_api import ACCOUNT_SID, AcceptedCall, TwilioApiStub
from workflows.callbacks.requests import Callback, find_callback, list_callbacks
from workflows.loader import from_folder
from workflows.people.agents import AgentFields, Endpoint, find_agent, put_agent, set_status
from workflows.people.teams import TeamFields, put_team

NEW_YORK = ZoneInfo("America/New_York")
CALLER = "+14155550123"
OUR_NUMBER = "+15005550001"
AGENT_PHONE = "+14155550999"
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), NEW_YORK)
SATURDAY_10 = next_weekday_at(SATURDAY, time(10, 0), NEW_YORK, after=MONDAY_10)
NEXT_MONDAY_0900 = on_day_at(SATURDAY_10, 2, time(9, 0))

SCHEDULE = """\
timezone: America/New_York
weekly:
  mon: ["09:00-17:00"]
  tue: ["09:00-17:00"]
  wed: ["09:00-17:00"]
  thu: ["09:00-17:00"]
  fri: ["09:00-17:00"]
quiet_hours: ["21:00-08:00"]
"""

LINE = """\
id: main-line
trigger: {event: call.incoming}
start: menu
steps:
  menu:
    menu:
      say: "For support press 1. To be called back, press 2."
      options:
        "2": call_me_back
  call_me_back:
    callback: {team: support, attempts: 2, retry_delay: 1m}
"""


@dataclass
class Line:
    server: RunningServer
    stub: TwilioApiStub
    clock: MovableClock

    async def call_in(self, caller: str = CALLER) -> list[str]:
        phone = Softphone(self.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
        result = await phone.call(ScriptedCaller(["2"]), from_=caller, to=OUR_NUMBER)
        return list(result.transcript)

    async def callbacks(self) -> list[Callback]:
        return await self.server.db.read(lambda conn: list_callbacks(conn))

    async def callback(self, callback_id: int) -> Callback:
        found = await self.server.db.read(lambda conn: find_callback(conn, callback_id))
        assert found is not None
        return found

    async def settled(self) -> None:
        await jobs_settled(self.server, "callback:")

    async def set_agent(self, status: str) -> None:
        now = self.clock()

        def work(conn: Any) -> None:
            agent = find_agent(conn, "alice")
            assert agent is not None
            set_status(conn, agent.id, status, now)  # type: ignore[arg-type]

        await self.server.db.write(work)

    async def post(self, url: str, form: dict[str, str]) -> str:
        assert url.startswith(PUBLIC_URL), url
        reply = await signed_post(self.server, url.removeprefix(PUBLIC_URL), form)
        assert reply.status in (200, 204), reply.text
        return reply.text

    async def twiml(self, url: str, form: dict[str, str]) -> ET.Element:
        """The server's answer to a signed webhook, parsed (our own server's TwiML)."""
        return ET.fromstring(await self.post(url, form))  # noqa: S314 - our server's answer

    async def play(
        self,
        call: AcceptedCall,
        *,
        press: str = "1",
        customer: str = "completed",
        number_called: str = CALLER,
    ) -> list[str]:
        """Twilio's part of a placed callback: the agent answers and presses ``press``; the
        customer's dial ends with ``customer``; what was said, in order."""
        base = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "From": call.from_, "To": call.to}
        said: list[str] = []
        assert call.url is not None
        prompt = await self.twiml(call.url, {**base, "CallStatus": "in-progress"})
        said += [element.text or "" for element in prompt.iter("Say")]
        gather = prompt.find("Gather")
        assert gather is not None, ET.tostring(prompt)
        answer = await self.twiml(gather.attrib["action"], {**base, "Digits": press})
        said += [element.text or "" for element in answer.iter("Say")]
        dial = answer.find("Dial")
        if dial is not None:
            number = dial.find("Number")
            assert number is not None
            assert number.text == number_called
            assert dial.attrib["callerId"] == OUR_NUMBER
            if customer == "completed":
                greeting = await self.twiml(
                    number.attrib["url"], {**base, "CallSid": "CA" + "c" * 32}
                )
                said += [element.text or "" for element in greeting.iter("Say")]
            form = {**base, "DialCallStatus": customer, "DialCallSid": "CA" + "d" * 32}
            if customer == "completed":
                form["DialCallDuration"] = "95"
            after = await self.twiml(dial.attrib["action"], form)
            said += [element.text or "" for element in after.iter("Say")]
        assert call.status_callback is not None
        await self.post(call.status_callback, {**base, "CallStatus": "completed"})
        return said


async def start_line(
    servers: ServerFactory, stub: TwilioApiStub, clock: MovableClock, folder: Path
) -> Line:
    (folder / "schedules").mkdir(parents=True)
    (folder / "schedules" / "office.yaml").write_text(SCHEDULE)
    (folder / "main-line.yaml").write_text(LINE)
    stub.clock = clock
    server = await servers.start(
        from_folder(folder),
        clock=clock,
        flows_dir=folder,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=stub.base_url,
    )
    now = clock()

    def people(conn: Any) -> None:
        fields = AgentFields(endpoints=(Endpoint("phone", AGENT_PHONE),), status="available")
        put_agent(conn, "alice", fields, now)
        put_team(conn, "support", TeamFields(schedule="office", members=("alice",)), now)

    await server.db.write(people)
    return Line(server, stub, clock)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(MONDAY_10)


@pytest.fixture
async def line(
    servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock, tmp_path: Path
) -> Line:
    return await start_line(servers, server_stub, clock, tmp_path / "flows")


async def test_a_caller_who_asks_is_called_back_by_a_free_agent(line: Line) -> None:
    transcript = await line.call_in()
    assert any("call you back" in said for said in transcript), transcript
    (request,) = await line.callbacks()
    assert (request.team, request.customer, request.status) == ("support", CALLER, "pending")

    await eventually(lambda: len(line.stub.calls) == 1, what="the call to the agent")
    (placed,) = line.stub.calls
    assert (placed.to, placed.from_) == (AGENT_PHONE, OUR_NUMBER)
    assert placed.url == f"{PUBLIC_URL}/twilio/voice/callbacks/{request.id}/1/agent"
    said = await line.play(placed)
    assert said[0].startswith("Callback for +1, 4 1 5, 5 5 5, 0 1 2 3. Press 1 to connect")
    assert "calling you back, as you asked" in said[1]

    done = await line.callback(request.id)
    assert (done.status, done.attempts, done.agent) == ("connected", 1, "alice")
    (attempt,) = done.history
    assert (attempt.outcome, attempt.duration, attempt.agent_call_sid) == (
        "answered",
        95,
        placed.sid,
    )
    await line.settled()
    assert len(line.stub.calls) == 1


async def test_a_closed_team_calls_back_when_it_opens(line: Line) -> None:
    line.clock.set(SATURDAY_10)
    await line.call_in()
    await line.settled()
    assert line.stub.calls == []
    (request,) = await line.callbacks()
    assert request.status == "pending"

    line.clock.set(NEXT_MONDAY_0900 - timedelta(seconds=5))
    await line.settled()
    assert line.stub.calls == []
    line.clock.set(NEXT_MONDAY_0900 + timedelta(seconds=1))
    await eventually(lambda: len(line.stub.calls) == 1, what="the call when the team opens")


async def test_a_busy_agent_is_waited_for(line: Line) -> None:
    await line.set_agent("away")
    await line.call_in()
    await line.settled()
    assert line.stub.calls == []
    (request,) = await line.callbacks()
    assert (request.status, request.waits) == ("pending", 1)

    await line.set_agent("available")
    line.clock.advance(timedelta(seconds=16))  # the first wait: 15 s
    await eventually(lambda: len(line.stub.calls) == 1, what="the call once alice is free")


async def test_an_unanswered_customer_is_tried_again_then_the_request_fails(line: Line) -> None:
    await line.call_in()
    await eventually(lambda: len(line.stub.calls) == 1, what="the first attempt")
    said = await line.play(line.stub.calls[0], customer="no-answer")
    assert said[-1] == "The customer did not answer. We will try again later. Goodbye."
    (request,) = await line.callbacks()
    assert (request.status, request.attempts) == ("pending", 1)

    await line.settled()
    assert len(line.stub.calls) == 1  # not before the retry delay (1 minute)
    line.clock.advance(timedelta(seconds=61))
    await eventually(lambda: len(line.stub.calls) == 2, what="the second attempt")
    said = await line.play(line.stub.calls[1], customer="busy")
    assert said[-1] == "The customer did not answer. That was the last attempt. Goodbye."

    done = await line.callback(request.id)
    assert (done.status, done.attempts) == ("failed", 2)
    assert done.reason == "the customer did not answer 2 attempts (last: busy)"
    assert [a.outcome for a in done.history] == ["no-answer", "busy"]
    line.clock.advance(timedelta(minutes=5))
    await line.settled()
    assert len(line.stub.calls) == 2


async def test_a_number_that_opted_out_is_not_called_back(line: Line) -> None:
    await line.set_agent("away")
    await line.call_in()
    await line.settled()
    now = line.clock()
    await line.server.db.write(lambda conn: opt_out(conn, CALLER, "keyword", now=now))
    await line.set_agent("available")
    line.clock.advance(timedelta(seconds=16))
    await line.settled()
    assert line.stub.calls == []
    (request,) = await line.callbacks()
    assert (request.status, request.reason) == ("failed", "the customer's number opted out")


async def test_an_opt_out_while_the_agent_is_rung_is_respected(line: Line) -> None:
    await line.call_in()
    await eventually(lambda: len(line.stub.calls) == 1, what="the call to the agent")
    now = line.clock()
    await line.server.db.write(lambda conn: opt_out(conn, CALLER, "keyword", now=now))
    said = await line.play(line.stub.calls[0])
    assert said[-1] == "This customer asked not to be contacted. Goodbye."
    (request,) = await line.callbacks()
    assert request.status == "failed"


async def test_an_agent_who_does_not_accept_passes_it_on(line: Line) -> None:
    await line.call_in()
    await eventually(lambda: len(line.stub.calls) == 1, what="the call to the agent")
    said = await line.play(line.stub.calls[0], press="")
    assert said[-1] == "The callback goes to someone else. Goodbye."
    (request,) = await line.callbacks()
    assert (request.status, request.attempts) == ("pending", 0)
    line.clock.advance(timedelta(seconds=16))
    await eventually(lambda: len(line.stub.calls) == 2, what="the callback placed again")


async def test_a_call_accepted_but_not_answered_is_looked_up_not_placed_twice(line: Line) -> None:
    line.stub.respond_call(201, drop=True)  # Twilio creates the call; its answer is lost
    await line.call_in()
    await eventually(lambda: len(line.stub.calls) == 1, what="the call to the agent")
    await line.settled()
    (request,) = await line.callbacks()
    assert (request.status, request.agent_call_sid) == ("calling", None)

    line.clock.advance(timedelta(seconds=21))  # past the settle time: looked up
    await eventually(
        lambda: any(
            r.method == "GET" and r.path == line.stub.calls_path for r in line.stub.requests
        ),
        what="the lookup",
    )
    await line.settled()
    (request,) = await line.callbacks()
    assert request.agent_call_sid == line.stub.calls[0].sid
    assert len(line.stub.calls) == 1
    await line.play(line.stub.calls[0])
    assert (await line.callback(request.id)).status == "connected"


def test_spoken_numbers_are_grouped() -> None:
    from workflows.callbacks.service import spoken_number

    assert spoken_number("+14155550100") == "+1, 4 1 5, 5 5 5, 0 1 0 0"
    assert re.match(r"^\+4 4 2, ", spoken_number("+442071838750"))


async def test_a_placement_whose_webhooks_never_come_is_ended_from_twilio(line: Line) -> None:
    await line.call_in()
    await eventually(lambda: len(line.stub.calls) == 1, what="the call to the agent")
    first = line.stub.calls[0]
    line.stub.set_call_status(first.sid, "in-progress")
    line.clock.advance(timedelta(minutes=10, seconds=1))
    await line.settled()
    (request,) = await line.callbacks()
    assert request.status == "calling"  # still ringing the agent: left alone

    line.stub.set_call_status(first.sid, "no-answer")  # its status callback was lost
    line.clock.advance(timedelta(minutes=10, seconds=1))
    await line.settled()
    (request,) = await line.callbacks()
    assert [a.outcome for a in (await line.callback(request.id)).history] == ["agent-no-answer"]
    line.clock.advance(timedelta(seconds=16))
    await eventually(lambda: len(line.stub.calls) == 2, what="the callback placed again")


async def test_two_servers_place_each_callback_once_oldest_first(
    servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock, tmp_path: Path
) -> None:
    if not servers.database_url.startswith("postgresql"):
        pytest.skip("two server processes share PostgreSQL")
    line = await start_line(servers, server_stub, clock, tmp_path / "flows")
    await line.set_agent("away")
    callers = [f"+1415555{index:04d}" for index in range(4)]
    for caller in callers:
        await line.call_in(caller)
    await servers.start(
        from_folder(tmp_path / "flows"),
        clock=clock,
        flows_dir=tmp_path / "flows",
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    await line.set_agent("available")
    placed: list[str] = []
    for _ in callers:
        clock.advance(timedelta(minutes=2, seconds=1))  # past any wait for a free agent
        await eventually(lambda: len(server_stub.calls) == len(placed) + 1, what="a callback")
        await line.settled()
        assert len(server_stub.calls) == len(placed) + 1  # one agent: one call at a time
        call = server_stub.calls[-1]
        placed.append(call.url or "")
        callback_id = int((call.url or "").split("/")[-3])
        customer = (await line.callback(callback_id)).customer
        await line.play(call, number_called=customer)
    requests = await line.callbacks()
    assert [r.status for r in requests] == ["connected"] * 4
    by_id = {r.id: r.customer for r in requests}
    order = [by_id[int(url.split("/")[-3])] for url in placed]
    assert order == callers  # first come, first served
