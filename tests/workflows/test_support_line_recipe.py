"""The recipe "support line with a queue and callbacks", end to end: installed with one call of
the admin API (beside missed-call-text), the team set up over the API, and callers driven
through the real voice webhooks, signed as Twilio signs them, with a stub of Twilio's REST API
on a loopback port. A caller reaches the one free agent; the next one waits in the queue,
hears their place, presses 1 and is promised a callback (listed by the callbacks API, placed
when the agent is free); one who hangs up in the queue gets the missed-call text; after hours
the line takes its after-hours branch. Every moment is computed from now (the office schedule
of examples/post-call: New York time, weekdays 09:00-12:00 and 13:00-17:00)."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MONDAY, SATURDAY, MovableClock, next_weekday_at, on_day_at
from tests.conftest import PUBLIC_URL, ServerFactory, eventually, jobs_settled, signed_post
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "post-call"
NEW_YORK = ZoneInfo("America/New_York")
LINE = "+15005550001"
ALICE = "+14155550999"
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), NEW_YORK)
SATURDAY_10 = next_weekday_at(SATURDAY, time(10, 0), NEW_YORK, after=MONDAY_10)
NEXT_MONDAY_0900 = on_day_at(SATURDAY_10, 2, time(9, 0))
GREETING = (
    "Thank you for calling Acme. If you have to wait, press 1 at any time to be called back"
    " without losing your place in line, or 2 to leave a message."
)
CALLBACK_BYE = (
    "Your place in line is kept, and we will call you back at this number. Thank you for"
    " calling Acme. Goodbye."
)
_sids = itertools.count(1)


def path_of(url: str) -> str:
    """The path (and query) of a URL in our TwiML, as the webhook is posted to it."""
    parts = urlsplit(url.replace("&amp;", "&"))
    assert url.startswith(PUBLIC_URL), url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def action_of(twiml: str, verb: str) -> str:
    found = re.search(rf'<{verb} action="([^"]+)"', twiml)
    assert found, twiml
    return path_of(found.group(1))


def said(twiml: str) -> list[str]:
    return re.findall(r"<Say[^>]*>([^<]*)</Say>", twiml)


def dialled(twiml: str) -> list[str]:
    return re.findall(r"<Number[^>]*>([^<]+)</Number>", twiml)


class Caller:
    """One caller of the line: the webhooks Twilio sends for their call."""

    def __init__(self, site: Site, number: str) -> None:
        self.site = site
        self.sid = f"CA{next(_sids):032x}"
        self.number = number
        self.first = ""

    def form(self, **extra: str) -> dict[str, str]:
        return {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.number,
            "To": LINE,
            "CallStatus": "in-progress",
            **extra,
        }

    async def post(self, path: str, **extra: str) -> str:
        reply = await signed_post(self.site.api.server, path, self.form(**extra))
        assert reply.status == 200, reply.text
        return reply.text

    async def call(self) -> str:
        self.first = await self.post("/twilio/voice")
        return self.first

    async def waiting(self) -> str:
        return await self.post("/twilio/voice/queue/wait")

    async def press(self, digit: str) -> str:
        return await self.post("/twilio/voice/queue/key", Digits=digit)

    async def queue_left(self) -> str:
        """Twilio asks the ``<Enqueue action>`` once the caller left the queue."""
        return await self.post(action_of(self.first, "Enqueue"), QueueResult="leave")

    async def hang_up(self) -> None:
        form = self.form(CallStatus="completed", CallDuration="40")
        reply = await signed_post(self.site.api.server, "/twilio/voice/status", form)
        assert reply.status == 204, reply.text


@dataclass
class Site:
    """A server with the office schedule, an admin token and Twilio's REST API stubbed."""

    api: ApiClient
    stub: TwilioApiStub
    clock: MovableClock

    async def install(self, recipe: str, **parameters: Any) -> dict[str, Any]:
        answer = await self.api.call(
            "POST",
            f"/recipes/{recipe}/install",
            json_body={"parameters": parameters, "publish": True},
        )
        assert answer.status == 201, answer.text
        body: dict[str, Any] = answer.json
        return body

    async def agent_leg(self, caller: Caller, leg: str, status: str) -> None:
        """Twilio's status callback of alice's leg of ``caller``'s call."""
        form = {
            "CallSid": leg,
            "ParentCallSid": caller.sid,
            "AccountSid": ACCOUNT_SID,
            "From": LINE,
            "To": ALICE,
            "CallStatus": status,
        }
        reply = await signed_post(
            self.api.server, "/twilio/voice/agents/alice/status?team=support", form
        )
        assert reply.status == 204, reply.text

    async def callbacks(self) -> list[dict[str, Any]]:
        answer = await self.api.call("GET", "/callbacks")
        assert answer.status == 200, answer.text
        found: list[dict[str, Any]] = answer.json
        return found

    async def outcome(self, caller: Caller) -> tuple[str, str | None]:
        answer = await self.api.call("GET", f"/calls/{caller.sid}")
        assert answer.status == 200, answer.text
        return answer.json["outcome"], answer.json["agent"]


@pytest.fixture
async def site(
    servers: ServerFactory, server_stub: TwilioApiStub, tmp_path: Path
) -> AsyncIterator[Site]:
    flows = tmp_path / "flows"
    (flows / "schedules").mkdir(parents=True)
    shutil.copy(EXAMPLES / "schedules" / "office.yaml", flows / "schedules" / "office.yaml")
    clock = MovableClock(MONDAY_10)
    server_stub.clock = clock
    server = await servers.start(
        [],
        clock=clock,
        flows_dir=flows,
        admin_token=ADMIN_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        alice = {"status": "available", "endpoints": [{"kind": "phone", "address": ALICE}]}
        assert (await api.call("PUT", "/agents/alice", json_body=alice)).status == 201
        team = {"members": ["alice"], "schedule": "office", "ring_strategy": "longest_idle"}
        assert (await api.call("PUT", "/teams/support", json_body=team)).status == 201
        yield Site(api, server_stub, clock)


async def test_callers_reach_the_free_agent_wait_in_line_and_ask_for_a_callback(
    site: Site,
) -> None:
    installed = await site.install(
        "support-line",
        workflow_id="support",
        numbers=[LINE],
        business_name="Acme",
        hours="office",
        team="support",
    )
    assert (installed["id"], installed["published_version"]) == ("support", 1)
    await site.install(
        "missed-call-text",
        workflow_id="missed-text",
        numbers=[LINE],
        business_name="Acme",
        hours="office",
        once_per_minutes=0,
    )

    # The first caller is connected to alice, the one agent free.
    first = Caller(site, "+14155550101")
    twiml = await first.call()
    assert said(twiml) == [GREETING]
    assert dialled(twiml) == [ALICE]
    await site.agent_leg(first, "CA" + "a" * 32, "in-progress")  # alice answers: busy

    # The second caller finds alice busy: they wait in the queue and hear their place.
    second = Caller(site, "+14155550102")
    twiml = await second.call()
    assert said(twiml) == [GREETING]
    assert dialled(twiml) == []
    assert ">support</Enqueue>" in twiml
    assert "You are number 1 in line; about 3 minutes." in await second.waiting()

    # They press 1: a callback is recorded in their place, and the call ends politely.
    assert said(await second.press("1")) == [
        "Thank you. We will call you back as soon as an agent is free."
    ]
    goodbye = await second.queue_left()
    assert said(goodbye) == [CALLBACK_BYE]
    assert "<Hangup />" in goodbye
    await second.hang_up()
    (request,) = await site.callbacks()
    assert (request["team"], request["customer"], request["from"]) == (
        "support",
        second.number,
        LINE,
    )
    assert (request["status"], request["call_sid"]) == ("pending", second.sid)
    assert await site.outcome(second) == ("callback", None)

    # A third caller gives up while waiting: missed, and missed-call-text texts them.
    third = Caller(site, "+14155550103")
    assert ">support</Enqueue>" in await third.call()
    assert "You are number 1 in line" in await third.waiting()
    await third.hang_up()
    assert await site.outcome(third) == ("missed", None)
    await eventually(lambda: site.stub.accepted, what="the missed-call text")
    (text,) = site.stub.accepted
    assert (text.to, text.from_) == (third.number, LINE)
    assert text.body.startswith("Hi there, sorry we missed your call to Acme.")

    # The first call ends: logged with alice; then alice, free again, calls the second back.
    assert said(await first.post(action_of(first.first, "Dial"), DialCallStatus="completed")) == [
        "Thank you for calling Acme. Goodbye."
    ]
    await site.agent_leg(first, "CA" + "a" * 32, "completed")
    await first.hang_up()
    assert await site.outcome(first) == ("ended", "alice")
    site.clock.advance(timedelta(minutes=2, seconds=1))  # past any wait for a free agent
    await jobs_settled(site.api.server, "callback:")
    await eventually(lambda: site.stub.calls, what="the callback's call to alice")
    assert [(call.to, call.from_) for call in site.stub.calls] == [(ALICE, LINE)]
    assert len(site.stub.accepted) == 1  # the second caller got no missed-call text


async def test_after_hours_the_caller_is_offered_a_callback_on_the_next_business_day(
    site: Site,
) -> None:
    await site.install(
        "support-line",
        workflow_id="support",
        numbers=[LINE],
        business_name="Acme",
        hours="office",
        after_hours="callback",
        closed_message="We are closed for the weekend.",
    )
    site.clock.set(SATURDAY_10)
    caller = Caller(site, "+14155550104")
    twiml = await caller.call()
    assert said(twiml) == [
        "Thank you for calling Acme. We are closed for the weekend.",
        "We will call you back at this number on our next business day. You do not need to"
        " call again.",
        "Goodbye.",
    ]
    assert "<Dial" not in twiml
    assert "<Enqueue" not in twiml
    await caller.hang_up()
    assert await site.outcome(caller) == ("after_hours", None)
    (request,) = await site.callbacks()
    assert (request["customer"], request["status"]) == (caller.number, "pending")

    # Nobody is called while the team is closed; when it opens on Monday, alice is.
    await jobs_settled(site.api.server, "callback:")
    assert site.stub.calls == []
    site.clock.set(NEXT_MONDAY_0900 + timedelta(seconds=1))
    await eventually(lambda: site.stub.calls, what="the callback when the team opens")
    assert [call.to for call in site.stub.calls] == [ALICE]


@pytest.mark.parametrize(
    ("after_hours", "expected"),
    [
        ("voicemail", "<Record"),
        ("message", "<Hangup />"),
    ],
)
async def test_after_hours_voicemail_or_a_message(
    site: Site, after_hours: str, expected: str
) -> None:
    await site.install(
        "support-line",
        workflow_id="support",
        business_name="Acme",
        hours="office",
        after_hours=after_hours,
    )
    site.clock.set(SATURDAY_10)
    caller = Caller(site, "+14155550105")
    twiml = await caller.call()
    assert said(twiml)[0] == "Thank you for calling Acme. We are closed right now."
    assert expected in twiml
    assert "<Dial" not in twiml
    assert "<Enqueue" not in twiml
    await caller.hang_up()
    assert await site.outcome(caller) == ("after_hours", None)
    assert await site.callbacks() == []


async def test_pressing_2_leaves_a_voicemail_and_a_long_wait_ends_in_the_queue_fallback(
    site: Site,
) -> None:
    await site.install(
        "support-line",
        workflow_id="support",
        numbers=[LINE],
        business_name="Acme",
        hours="office",
        max_wait_seconds=120,
        queue_fallback="callback",
    )
    away = {"status": "away", "endpoints": [{"kind": "phone", "address": ALICE}]}
    assert (await site.api.call("PUT", "/agents/alice", json_body=away)).status == 200
    voicemail, patient = Caller(site, "+14155550106"), Caller(site, "+14155550107")
    for caller in (voicemail, patient):
        assert ">support</Enqueue>" in await caller.call()
        await caller.waiting()

    # 2: out of the queue, to the voicemail.
    assert "<Leave />" in await voicemail.press("2")
    recording = await voicemail.queue_left()
    assert said(recording) == ["Please leave your name, number and message after the tone."]
    assert "<Record" in recording

    # Past max_wait_seconds the queue's fallback: a callback, as if they had pressed 1.
    site.clock.advance(timedelta(seconds=121))
    assert "<Leave />" in await patient.waiting()
    assert said(await patient.queue_left()) == [CALLBACK_BYE]
    await patient.hang_up()
    (request,) = await site.callbacks()
    assert (request["customer"], request["status"]) == (patient.number, "pending")
    assert await site.outcome(patient) == ("callback", None)
