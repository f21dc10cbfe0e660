"""Calls whose final status callback never came are looked up at Twilio and ended once.

The example line of ``examples/post-call`` on a real server (SQLite and PostgreSQL), calls
placed by the softphone with their status callback lost (sent to a path that answers 404, as
when the server was down), Twilio's Calls API played by TwilioApiStub over HTTP, and a clock
the test moves.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, insert, select

from ivr.db import calls
from ivr.softphone import CallResult, ScriptedCaller, Softphone
from ivr.status_check import CALL_STATUS_CHECK, LOOK_BACK, check_key, queue_checks
from ringflow.database import stored_time
from ringflow.metrics import METRICS
from ringflow.resources.jobs import JOB_WORKER, STATUS_SWEEP
from tests.clock import MovableClock
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, ServerFactory, eventually, signed_post
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_post_call_texts import CALLER, MISSED, MONDAY_10, OUR_NUMBER, Line, start_line
from workflows.jobs import jobs

CHECK_AFTER = timedelta(minutes=10)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(MONDAY_10)


@pytest.fixture
async def line(servers: ServerFactory, server_stub: TwilioApiStub, clock: MovableClock) -> Line:
    return await start_line(servers, server_stub, clock)


async def call_with_its_status_lost(line: Line, *answers: str | None) -> CallResult:
    """A call to the line (from the stub's account) whose status callback never arrives."""
    phone = Softphone(
        line.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL, status_path="/lost"
    )
    phone.account_sid = ACCOUNT_SID
    result = await phone.call(ScriptedCaller(answers), from_=CALLER, to=OUR_NUMBER)
    assert result.status_callback is not None
    assert result.status_callback.status == 404
    return result


async def call_row(line: Line, sid: str) -> dict[str, object]:
    query = select(calls.c.status, calls.c.outcome, calls.c.duration, calls.c.ended_at)
    query = query.where(calls.c.sid == sid)
    row = await line.server.db.read(lambda conn: conn.execute(query).one())
    return dict(row._mapping)


async def check_job(line: Line, sid: str) -> dict[str, object] | None:
    query = select(jobs.c.status, jobs.c.attempts, jobs.c.last_error, jobs.c.due_at)
    query = query.where(jobs.c.dedupe_key == check_key(sid))
    row = await line.server.db.read(lambda conn: conn.execute(query).first())
    return None if row is None else dict(row._mapping)


async def sweep(line: Line) -> list[str]:
    return await line.server.app[STATUS_SWEEP].sweep()


async def test_a_missed_call_whose_status_was_lost_sends_its_text_once(line: Line) -> None:
    result = await call_with_its_status_lost(line, "1", "no-answer", None)
    sid = result.call_sid
    ended = (line.clock() + timedelta(seconds=40)).replace(microsecond=0)  # RFC 2822: seconds
    line.stub.add_inbound_call(
        sid, from_=CALLER, to=OUR_NUMBER, status="completed", duration=40, ended=ended
    )
    assert (await call_row(line, sid))["outcome"] is None

    # Not looked up while it may still go on.
    line.clock.advance(CHECK_AFTER - timedelta(seconds=1))
    assert await sweep(line) == []

    line.clock.advance(timedelta(seconds=2))
    assert await sweep(line) == [sid]
    await eventually(lambda: len(line.stub.accepted) == 1, what="the missed-call text")
    assert await line.texts() == [(CALLER, MISSED)]
    row = await call_row(line, sid)
    ended_at = stored_time(row.pop("ended_at"))  # type: ignore[arg-type]
    assert row == {"status": "completed", "outcome": "missed", "duration": 40}
    assert ended_at == ended  # Twilio's end time, not the moment it was learnt
    ended_calls = line.server.app[METRICS].registry.get_sample_value(
        "ringflow_calls_ended_total", {"outcome": "missed"}
    )
    assert ended_calls == 1  # counted as a status callback's call would be
    fetches = [r for r in line.stub.requests if r.method == "GET" and sid in r.path]
    assert [r.path for r in fetches] == [f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"]

    # The lost callback arrives after all, then sweeps go on: nothing more happens.
    final = result.status_callback
    assert final is not None
    assert (await signed_post(line.server, "/twilio/voice/status", final.params)).status in (
        200,
        204,
    )
    line.clock.advance(CHECK_AFTER)
    assert await sweep(line) == []
    await line.settled()
    assert await line.texts() == [(CALLER, MISSED)]
    assert await line.server.count("trigger_firings") == 1


async def test_a_call_still_going_on_is_looked_up_again_later(line: Line) -> None:
    result = await call_with_its_status_lost(line, "1", "no-answer", None)
    sid = result.call_sid
    line.stub.add_inbound_call(sid, from_=CALLER, to=OUR_NUMBER, status="in-progress")
    line.clock.advance(CHECK_AFTER + timedelta(seconds=1))
    assert await sweep(line) == [sid]

    async def deferred() -> bool:
        job = await check_job(line, sid)
        return job is not None and job["status"] == "queued" and job["last_error"] is not None

    await eventually(deferred, what="the check to wait for the call's end")
    job = await check_job(line, sid)
    assert job is not None
    assert job["attempts"] == 0  # waiting is not a failed attempt
    assert "still in-progress at Twilio" in str(job["last_error"])
    due_in = stored_time(job["due_at"]) - line.clock()  # type: ignore[arg-type]
    assert CHECK_AFTER - timedelta(seconds=5) < due_in <= CHECK_AFTER
    assert (await call_row(line, sid))["outcome"] is None
    assert await sweep(line) == []  # one check per call

    line.stub.set_call_status(sid, "completed")
    line.clock.advance(CHECK_AFTER)
    line.server.app[JOB_WORKER].wake()
    await eventually(lambda: len(line.stub.accepted) == 1, what="the missed-call text")
    assert (await call_row(line, sid))["outcome"] == "missed"


async def test_a_call_twilio_does_not_know_is_left_to_an_admin(line: Line) -> None:
    result = await call_with_its_status_lost(line, "1", "no-answer", None)
    line.clock.advance(CHECK_AFTER + timedelta(seconds=1))
    assert await sweep(line) == [result.call_sid]

    async def dead() -> bool:
        job = await check_job(line, result.call_sid)
        return job is not None and job["status"] == "dead"

    await eventually(dead, what="the check to die")
    job = await check_job(line, result.call_sid)
    assert job is not None
    assert "Twilio does not know this call" in str(job["last_error"])
    assert (await call_row(line, result.call_sid))["outcome"] is None
    assert line.stub.accepted == []


async def test_only_twilio_calls_open_long_enough_and_not_too_old_are_checked(
    line: Line,
) -> None:
    now = line.clock()
    old = now - CHECK_AFTER - timedelta(minutes=1)
    rows = [
        ("CA" + "1" * 32, old, None),  # checked
        ("CA" + "2" * 32, now - timedelta(minutes=2), None),  # too recent
        ("CA" + "3" * 32, old, "missed"),  # over
        ("CA" + "4" * 32, now - LOOK_BACK - timedelta(minutes=1), None),  # too old
        ("ami-1700000000.12", old, None),  # the PBX's call
        ("CAtest" + "5" * 28, old, None),  # a console test call
    ]

    def add(conn: Connection) -> None:
        for sid, started_at, outcome in rows:
            conn.execute(
                insert(calls).values(
                    sid=sid,
                    caller=CALLER,
                    called=OUR_NUMBER,
                    status="in-progress",
                    outcome=outcome,
                    started_at=started_at,
                )
            )

    await line.server.db.write(add)
    queued = await line.server.db.write(lambda conn: queue_checks(conn, now, CHECK_AFTER))
    assert queued == ["CA" + "1" * 32]
    kinds = select(jobs.c.kind).where(jobs.c.dedupe_key == check_key(queued[0]))
    assert await line.server.db.read(lambda conn: conn.execute(kinds).scalars().all()) == [
        CALL_STATUS_CHECK
    ]


async def test_no_sweep_without_a_twilio_account(servers: ServerFactory) -> None:
    server = await servers.start()
    assert STATUS_SWEEP not in server.app
