"""Post-call texts end to end: the example workflows in ``examples/post-call`` on a real server,
calls placed by the softphone (signed like Twilio), texts sent by the server's own job worker
through the Twilio provider to TwilioApiStub, and a clock the test moves.

The office schedule is New York time, Monday to Friday 09:00-12:00 and 13:00-17:00, quiet
hours 21:00-08:00.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, select

from ivr.db import calls
from ivr.softphone import CallResult, ScriptedCaller, Softphone
from ringflow.database import stored_time
from sms.db import messages
from sms.optouts import is_opted_out
from sms.workflow_jobs import CallEventHandler
from tests.clock import MONDAY, SATURDAY, MovableClock, next_weekday_at, on_day_at
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    eventually,
    signed_post,
)
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from workflows.db import trigger_firings
from workflows.jobs import jobs
from workflows.loader import from_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "post-call"
NEW_YORK = ZoneInfo("America/New_York")
CALLER = "+14155550123"
OUR_NUMBER = "+15005550001"
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), NEW_YORK)
SATURDAY_10 = next_weekday_at(SATURDAY, time(10, 0), NEW_YORK, after=MONDAY_10)
MONDAY_2130 = on_day_at(MONDAY_10, 0, time(21, 30))
TUESDAY_0759 = on_day_at(MONDAY_10, 1, time(7, 59))
TUESDAY_0800 = on_day_at(MONDAY_10, 1, time(8, 0, 1))

MISSED = (
    "Hi there, sorry we missed your call to Acme. We will call you back soon."
    " Reply STOP to opt out."
)
ENDED = "Thanks for calling Acme, we hope we could help! Reply STOP to opt out."


def after_hours(opening: str) -> str:
    return (
        f"Thanks for calling Acme. We're closed right now; we open {opening}. "
        "Reply STOP to opt out."
    )


@dataclass
class Line:
    """The example line running on a server, its clock and the Twilio stub it texts through."""

    server: RunningServer
    stub: TwilioApiStub
    clock: MovableClock

    async def call(self, *answers: str | None, caller: str = CALLER) -> CallResult:
        phone = Softphone(self.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
        return await phone.call(ScriptedCaller(answers), from_=caller, to=OUR_NUMBER)

    async def settled(self) -> None:
        """Wait until every job that is due has run (texts due later stay queued)."""

        query = select(jobs.c.status, jobs.c.due_at)

        async def idle() -> bool:
            now = self.clock()
            rows = await self.server.db.read(lambda conn: conn.execute(query).all())
            return all(
                status in ("done", "dead") or stored_time(due_at) > now for status, due_at in rows
            )

        await eventually(idle, within=10, what="due jobs to finish")

    async def texts(self) -> list[tuple[str, str]]:
        """(to, body) of each text the stub accepted."""
        return [(message.to, message.body) for message in self.stub.accepted]


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(MONDAY_10)


async def start_line(servers: ServerFactory, stub: TwilioApiStub, clock: MovableClock) -> Line:
    """The example line on a server with ``clock``, texting through ``stub``."""
    server = await servers.start(
        from_folder(EXAMPLES),
        clock=clock,
        flows_dir=EXAMPLES,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=stub.base_url,
    )
    return Line(server, stub, clock)


@pytest.fixture
async def line(servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock) -> Line:
    return await start_line(servers, server_stub, clock)


async def test_a_missed_call_sends_exactly_one_text(line: Line) -> None:
    result = await line.call("1", "no-answer", None)  # the team does not answer, no voicemail
    assert "Dial: +15005550009" in result.transcript

    await eventually(lambda: len(line.stub.accepted) == 1, what="the missed-call text")
    assert await line.texts() == [(CALLER, MISSED)]
    (accepted,) = line.stub.accepted
    assert accepted.from_ == OUR_NUMBER
    assert accepted.status_callback == f"{PUBLIC_URL}/twilio/sms/status"

    # Twilio repeats the final status callback, then sends earlier ones late: nothing changes.
    final = result.status_callback
    assert final is not None
    path = "/twilio/voice/status"
    for status in (None, "in-progress", "ringing", "no-answer"):
        form = dict(final.params) if status is None else {**final.params, "CallStatus": status}
        assert (await signed_post(line.server, path, form)).status in (200, 204)
    await line.settled()
    await asyncio.sleep(0.6)  # a worker poll
    assert await line.texts() == [(CALLER, MISSED)]
    assert await line.server.count("trigger_firings") == 1


async def test_a_call_that_reached_the_team_sends_the_call_ended_text(line: Line) -> None:
    await line.call("1", "completed:35")
    await eventually(lambda: len(line.stub.accepted) == 1, what="the call-ended text")
    assert await line.texts() == [(CALLER, ENDED)]


async def test_an_after_hours_call_names_the_next_opening(line: Line) -> None:
    line.clock.set(SATURDAY_10)
    result = await line.call()
    assert "We are closed right now" in " ".join(result.transcript)
    await eventually(lambda: len(line.stub.accepted) == 1, what="the after-hours text")
    assert await line.texts() == [(CALLER, after_hours("on Monday at 9:00"))]


async def test_a_self_service_call_sends_nothing(line: Line) -> None:
    await line.call("2")  # the address, then goodbye
    await line.settled()
    assert await line.texts() == []
    assert await line.server.count("trigger_firings") == 0


async def test_stop_then_a_missed_call_sends_nothing(line: Line) -> None:
    stop = {
        "MessageSid": "SM" + "5" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": CALLER,
        "To": OUR_NUMBER,
        "Body": "STOP",
    }
    assert (await signed_post(line.server, "/twilio/sms", stop)).status == 200
    await eventually(lambda: len(line.stub.accepted) == 1, what="the STOP confirmation")
    confirmation = await line.texts()

    await line.call("1", "no-answer", None)
    await line.settled()
    assert await line.texts() == confirmation  # nothing after the confirmation
    rows = await line.server.db.read(
        lambda conn: conn.execute(
            select(messages.c.body, messages.c.status, messages.c.error).where(
                messages.c.direction == "outbound", messages.c.body == MISSED
            )
        ).all()
    )
    assert [tuple(row) for row in rows] == [(MISSED, "failed", "recipient opted out")]


async def test_a_429_then_201_sends_exactly_once(line: Line) -> None:
    line.stub.respond(429)
    line.stub.respond(201)
    await line.call("1", "no-answer", None)
    await eventually(lambda: len(line.stub.requests) == 1, what="the first attempt")
    line.clock.set(line.clock() + timedelta(minutes=5))  # past the retry's backoff
    await eventually(lambda: len(line.stub.accepted) == 1, what="the retried text")
    await line.settled()
    assert len(line.stub.requests) == 2
    assert await line.texts() == [(CALLER, MISSED)]
    assert line.stub.lookups() == []  # a 429 created nothing: no lookup before the retry


async def test_error_21610_is_not_retried_and_opts_the_number_out(line: Line) -> None:
    line.stub.respond(400, code=21610)
    await line.call("1", "no-answer", None)
    await eventually(lambda: len(line.stub.requests) == 1, what="the refused attempt")
    await line.settled()
    line.clock.set(line.clock() + timedelta(hours=2))
    await asyncio.sleep(0.6)  # a worker poll with every backoff long past
    await line.settled()
    assert len(line.stub.requests) == 1
    assert line.stub.accepted == []
    assert await line.server.db.read(lambda conn: is_opted_out(conn, CALLER))


async def test_a_text_due_in_quiet_hours_goes_out_when_they_end(line: Line) -> None:
    line.clock.set(MONDAY_2130)  # closed, and inside the 21:00-08:00 quiet hours
    await line.call()
    await line.settled()
    await asyncio.sleep(0.6)  # a worker poll
    assert await line.texts() == []

    line.clock.set(TUESDAY_0759)
    await asyncio.sleep(0.6)
    assert await line.texts() == []

    line.clock.set(TUESDAY_0800)
    await eventually(lambda: len(line.stub.accepted) == 1, what="the held text")
    # Worded for when it is read: at 8:00 the office opens "today", not "tomorrow".
    assert await line.texts() == [(CALLER, after_hours("today at 9:00"))]


async def test_a_retry_that_comes_due_in_quiet_hours_waits_for_the_morning(line: Line) -> None:
    line.clock.set(MONDAY_2130 - timedelta(minutes=31))  # 20:59: closed, not yet quiet
    line.stub.respond(429, delay=1)  # answered once the clock below has moved on
    await line.call()
    await eventually(lambda: len(line.stub.requests) == 1, what="the first attempt")
    line.clock.set(MONDAY_2130)  # so the retry comes due inside the quiet hours
    await asyncio.sleep(0.6)  # a worker poll
    await line.settled()
    assert line.stub.accepted == []
    assert len(line.stub.creations()) == 1

    line.clock.set(TUESDAY_0800)
    await eventually(lambda: len(line.stub.accepted) == 1, what="the held text")
    assert len(line.stub.creations()) == 2


async def test_five_missed_calls_in_ten_minutes_send_one_text(line: Line) -> None:
    for _ in range(5):
        await line.call("1", "no-answer", None)
        line.clock.set(line.clock() + timedelta(minutes=2))
    await line.settled()  # the worker got to the events late: the limit counts from the calls
    assert await line.texts() == [(CALLER, MISSED)]
    statuses = await line.server.db.read(
        lambda conn: sorted(conn.execute(select(trigger_firings.c.status)).scalars())
    )
    assert statuses == ["limited"] * 4 + ["started"]

    # Ten minutes after the first text, the next missed call texts again.
    line.clock.set(line.clock() + timedelta(minutes=1))
    await line.call("1", "busy", None)
    await eventually(lambda: len(line.stub.accepted) == 2, what="the second text")
    assert await line.texts() == [(CALLER, MISSED)] * 2


async def test_another_callers_limit_is_their_own(line: Line) -> None:
    await line.call("1", "no-answer", None)
    await line.call("1", "no-answer", None, caller="+14155550199")
    await eventually(lambda: len(line.stub.accepted) == 2, what="a text to each caller")
    assert sorted(to for to, _ in await line.texts()) == ["+14155550123", "+14155550199"]


async def test_a_post_call_workflow_that_fails_at_the_status_is_retried_as_a_job(
    servers: ServerFactory,
    server_stub: TwilioApiStub,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Starting the workflow inside the status callback's transaction blows up; the status is
    # stored all the same and the event goes to a job, whose worker starts the workflow.
    original = CallEventHandler.handle_in
    attempts: list[str] = []

    def flaky(
        self: CallEventHandler,
        conn: Connection,
        event: str,
        facts: Mapping[str, Any],
        event_key: str,
        now: datetime,
        happened_at: datetime | None = None,
    ) -> str:
        from_the_job = happened_at is not None  # the job passes when the call ended
        attempts.append("job" if from_the_job else "status")
        if not from_the_job:
            raise RuntimeError("the database hiccuped")
        return original(self, conn, event, facts, event_key, now, happened_at=happened_at)

    monkeypatch.setattr(CallEventHandler, "handle_in", flaky)
    server = await servers.start(
        from_folder(EXAMPLES),
        clock=clock,
        flows_dir=EXAMPLES,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    line = Line(server, server_stub, clock)
    with caplog.at_level(logging.ERROR):
        await line.call("1", "no-answer", None)
        await eventually(
            lambda: len(server_stub.accepted) == 1, what="the missed-call text, via the job"
        )
    assert await line.texts() == [(CALLER, MISSED)]
    assert attempts[-1] == "job"
    assert "status" in attempts
    logged = [record.getMessage() for record in caplog.records]
    assert any("post-call workflow not started now; queued" in text for text in logged), logged
    outcome = await server.db.read(lambda conn: conn.execute(select(calls.c.outcome)).scalar_one())
    assert outcome == "missed"
