"""A voice webhook answers within its deadline, even while the database holds its turn up:
the caller hears the apology and a hangup, the run is closed as failed once the database
lets go, and a repeat of the webhook gets the same apology."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from ivr.db import calls
from ivr.service import APOLOGY
from ivr.twiml import apology
from ringflow.database import database_url as driver_url
from tests.conftest import Reply, RunningServer, ServerFactory, eventually, signed_post
from tests.ivr.test_voice_calls import MENU_FLOW, action_path
from workflows.db import runs

DEADLINE = 1.0
APOLOGY_TWIML = apology(APOLOGY)
CALL = {
    "CallSid": "CA" + "e" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+15551230000",
    "To": "+15559870000",
    "CallStatus": "in-progress",
}
HOLD_SQLITE_LOCK = """
import select, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
select.select([sys.stdin], [], [], 3.0)  # until the test lets go, 3 s at most
conn.execute("ROLLBACK")
"""


@contextlib.asynccontextmanager
async def database_held(server: RunningServer, lock: str, **params: str) -> AsyncIterator[None]:
    """Another process (SQLite: its write lock) or connection (PostgreSQL: ``lock``, a
    statement with ``params``) holds up the server's writes until the block ends."""
    url = server.settings.database
    if url.startswith("sqlite"):
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLD_SQLITE_LOCK,
            str(server.db.url.database),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdin is not None
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"locked\n"
        try:
            yield
        finally:
            holder.stdin.close()
            await holder.wait()
        return
    engine = create_async_engine(driver_url(url))
    try:
        async with engine.connect() as conn, conn.begin() as transaction:
            await conn.execute(text(lock), params)
            yield
            await transaction.rollback()
    finally:
        await engine.dispose()


async def post_in_time(server: RunningServer, path: str, form: dict[str, str]) -> Reply:
    """POST a signed webhook; fail if no answer comes within the deadline (and a margin for
    a busy test machine)."""
    started = time.monotonic()
    reply = await asyncio.wait_for(signed_post(server, path, form), DEADLINE + 4)
    assert time.monotonic() - started < DEADLINE + 0.75
    return reply


async def stored_run(server: RunningServer, run_id: str) -> dict[str, object] | None:
    query = select(runs.c.status, runs.c.turn, runs.c.last_response, runs.c.state)
    found = await server.db.read(
        lambda conn: conn.execute(query.where(runs.c.id == run_id)).mappings().first()
    )
    return dict(found) if found is not None else None


def run_closed(
    server: RunningServer, run_id: str, turn: int
) -> Callable[[], Coroutine[Any, Any, bool]]:
    async def check() -> bool:
        run = await stored_run(server, run_id)
        return run is not None and run["status"] == "failed" and run["turn"] == turn

    return check


async def test_a_turn_held_up_by_the_database_answers_the_apology_in_time(
    servers: ServerFactory,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await servers.start([MENU_FLOW], voice_deadline_seconds=DEADLINE)
    greeting = await signed_post(server, "/twilio/voice", CALL)
    gather = action_path(greeting.text)
    run_id = gather.split("/")[4]
    pressed_2 = CALL | {"Digits": "2"}

    with caplog.at_level(logging.ERROR):
        async with database_held(server, "SELECT 1 FROM runs WHERE id = :id FOR UPDATE", id=run_id):
            answer = await post_in_time(server, gather, pressed_2)

    assert (answer.status, answer.text) == (200, APOLOGY_TWIML)
    assert any(
        CALL["CallSid"] in r.getMessage() and "deadline" in r.getMessage() for r in caplog.records
    )
    # Once the database lets go, whatever the turn's own write did, the run is closed as
    # failed with the apology as its answer, past the turn: a repeat hears the apology.
    await eventually(run_closed(server, run_id, 3), within=10, what="the run closed")
    run = await stored_run(server, run_id)
    assert run is not None
    assert run["last_response"] == APOLOGY_TWIML
    repeat = await signed_post(server, gather, pressed_2)
    assert repeat.text == APOLOGY_TWIML


async def test_an_incoming_call_held_up_by_the_database_answers_the_apology_in_time(
    servers: ServerFactory, database_url: str
) -> None:
    server = await servers.start([MENU_FLOW], voice_deadline_seconds=DEADLINE)

    async with database_held(server, "LOCK TABLE calls IN EXCLUSIVE MODE"):
        answer = await post_in_time(server, "/twilio/voice", CALL)
    assert (answer.status, answer.text) == (200, APOLOGY_TWIML)

    if database_url.startswith("sqlite"):
        # The call's write was queued before the deadline and commits once the lock is
        # free; the run is closed behind it, and a repeat gets the apology.
        await eventually(lambda: stored_call_run(server), within=10, what="the call stored")
        run_id = await stored_call_run(server)
        assert run_id is not None
        await eventually(run_closed(server, run_id, 2), within=10, what="the run closed")
        repeat = await signed_post(server, "/twilio/voice", CALL)
        assert repeat.text == APOLOGY_TWIML
    else:
        # PostgreSQL: the held-up insert was cancelled at the deadline and rolled back:
        # nothing was stored, and a repeat starts the call afresh.
        assert await server.count("calls") == 0
        assert await server.count("runs") == 0
        repeat = await signed_post(server, "/twilio/voice", CALL)
        assert "<Gather" in repeat.text


async def stored_call_run(server: RunningServer) -> str | None:
    """The run of the test's call, once the call is stored."""
    query = select(calls.c.run_id).where(calls.c.sid == CALL["CallSid"])
    run_id: str | None = await server.db.read(lambda conn: conn.execute(query).scalar())
    return run_id


async def test_a_status_callback_held_up_by_the_database_answers_in_time(
    servers: ServerFactory, database_url: str
) -> None:
    server = await servers.start(
        [MENU_FLOW], voice_deadline_seconds=DEADLINE, status_deadline_seconds=DEADLINE
    )
    await signed_post(server, "/twilio/voice", CALL)
    ended = CALL | {"CallStatus": "completed", "CallDuration": "30"}

    sid = CALL["CallSid"]
    async with database_held(server, "SELECT 1 FROM calls WHERE sid = :sid FOR UPDATE", sid=sid):
        answer = await post_in_time(server, "/twilio/voice/status", ended)
    assert answer.status == 503  # "try again": Twilio's repeat is recorded once

    again = await signed_post(server, "/twilio/voice/status", ended)
    assert again.status == 204
    status = select(calls.c.status).where(calls.c.sid == sid)
    assert await server.db.read(lambda conn: conn.execute(status).scalar()) == "completed"


async def test_a_status_callback_waits_longer_than_a_voice_turn_and_is_recorded(
    servers: ServerFactory, database_url: str
) -> None:
    # Nobody is on the line for a status callback, and Twilio may not repeat a 503: a
    # database held up for twice a turn's deadline still records the call's end.
    server = await servers.start(
        [MENU_FLOW], voice_deadline_seconds=DEADLINE, status_deadline_seconds=DEADLINE * 4
    )
    await signed_post(server, "/twilio/voice", CALL)
    ended = CALL | {"CallStatus": "completed", "CallDuration": "30"}

    sid = CALL["CallSid"]
    async with database_held(server, "SELECT 1 FROM calls WHERE sid = :sid FOR UPDATE", sid=sid):
        posted = asyncio.create_task(signed_post(server, "/twilio/voice/status", ended))
        await asyncio.sleep(DEADLINE * 2)
        assert not posted.done()
    answer = await asyncio.wait_for(posted, DEADLINE * 4)
    assert answer.status == 204
    status = select(calls.c.status).where(calls.c.sid == sid)
    assert await server.db.read(lambda conn: conn.execute(status).scalar()) == "completed"


async def test_a_turn_that_raises_is_closed_and_repeats_get_the_apology(
    servers: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await servers.start([MENU_FLOW], voice_deadline_seconds=DEADLINE)
    greeting = await signed_post(server, "/twilio/voice", CALL)
    gather = action_path(greeting.text)
    run_id = gather.split("/")[4]

    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("rendering broke")

    monkeypatch.setattr("ivr.service.render", broken)
    answer = await signed_post(server, gather, CALL | {"Digits": "2"})
    assert answer.text == APOLOGY_TWIML
    run = await stored_run(server, run_id)  # closed before the answer
    assert run is not None
    assert (run["status"], run["turn"]) == ("failed", 3)
    monkeypatch.undo()
    repeat = await signed_post(server, gather, CALL | {"Digits": "2"})
    assert repeat.text == APOLOGY_TWIML
