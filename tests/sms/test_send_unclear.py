"""Never a text twice when a send's outcome is unclear: the send job records ``sending`` before
each call and, after a timeout, a lost answer, a 5xx or a dead worker, looks the text up at the
provider before sending it again. Against TwilioApiStub, which keeps duplicates like Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from ringflow.database import Database
from sms.messages import MessageRow, mark_sending, message_by_key
from sms.provider import OutgoingSms
from sms.send_job import SEND_SMS, SETTLE, SendSmsHandler, queue_text
from sms.twilio_provider import TwilioSmsProvider
from tests.clock import MovableClock
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub
from workflows.jobs import JobWorker, RetryPolicy, jobs

TO = "+15005550006"
FROM = "+15005550001"
BODY = "We missed your call. We will call you back within the hour."
KEY = "call:CA1:missed"
TIMEOUT = 0.3
LATER = SETTLE + timedelta(minutes=5)  # past the settle time and any first backoff


@pytest.fixture
def clock(stub: TwilioApiStub) -> MovableClock:
    moving = MovableClock()
    stub.clock = moving  # the provider's clock is the server's, give or take
    return moving


@pytest.fixture
async def worker(
    migrated_db: Database, stub: TwilioApiStub, clock: MovableClock
) -> AsyncIterator[JobWorker]:
    provider = TwilioSmsProvider(
        ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url, timeout=TIMEOUT
    )
    handler = SendSmsHandler(migrated_db, provider, "twilio", None, clock=clock)
    yield JobWorker(
        migrated_db, {SEND_SMS: handler}, owner="test", policy=RetryPolicy(), clock=clock
    )
    await provider.close()


async def queue(db: Database, clock: MovableClock, key: str = KEY, body: str = BODY) -> None:
    await db.write(
        lambda conn: queue_text(conn, to=TO, from_=FROM, body=body, key=key, now=clock())
    )


async def message(db: Database, key: str = KEY) -> MessageRow:
    row = await db.read(lambda conn: message_by_key(conn, key))
    assert row is not None
    return row


async def job(db: Database, key: str = KEY) -> tuple[str, int]:
    query = select(jobs.c.status, jobs.c.attempts).where(jobs.c.dedupe_key == key)
    status, attempts = await db.read(lambda conn: conn.execute(query).one())
    return str(status), int(attempts)


async def test_a_201_stalled_past_the_timeout_is_found_not_sent_again(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    db = migrated_db
    await queue(db, clock)
    stub.respond(201, delay=5)  # created at once, answered after the client gave up

    assert await worker.run_once() == 1
    first = await message(db)
    assert (first.status, first.send_attempts, first.provider_id) == ("sending", 1, None)
    assert await job(db) == ("queued", 1)

    clock.advance(timedelta(seconds=3))  # due after the backoff, but before SETTLE
    assert await worker.run_once() == 1
    assert await job(db) == ("queued", 1), "held back until the attempt settled, free"
    assert stub.lookups() == []

    clock.advance(LATER)
    assert await worker.run_once() == 1

    (accepted,) = stub.accepted
    assert len(stub.creations()) == 1
    assert len(stub.lookups()) == 1
    row = await message(db)
    assert (row.status, row.provider_id, row.send_attempts) == ("sent", accepted.sid, 1)
    assert await job(db) == ("done", 2)


async def test_an_answer_lost_after_the_message_was_created_is_found(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    db = migrated_db
    await queue(db, clock)
    stub.respond(201, drop=True)

    assert await worker.run_once() == 1
    assert (await message(db)).status == "sending"
    clock.advance(LATER)
    assert await worker.run_once() == 1

    (accepted,) = stub.accepted
    assert len(stub.creations()) == 1
    assert (await message(db)).provider_id == accepted.sid
    assert (await job(db))[0] == "done"


async def test_a_worker_that_died_after_the_call_leaves_a_text_that_is_found(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    """The job is claimed again and finds the message ``sending``: the dead worker's call
    reached the provider, but ``sent`` was never recorded."""
    db = migrated_db
    await queue(db, clock)
    row = await message(db)
    await db.write(
        lambda conn: mark_sending(conn, row.id, attempts_seen=0, compliance=False, now=clock())
    )
    async with TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url) as dying:
        await dying.send(OutgoingSms(TO, FROM, BODY, KEY))  # then the worker died
    clock.advance(LATER)

    assert await worker.run_once() == 1

    (accepted,) = stub.accepted
    assert (await message(db)).provider_id == accepted.sid
    assert len(stub.creations()) == 1


async def test_an_unclear_attempt_that_created_nothing_is_sent_again_once(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    db = migrated_db
    await queue(db, clock)
    stub.respond(500)  # the stub creates nothing for it, but a 5xx says nothing sure

    assert await worker.run_once() == 1
    assert (await message(db)).status == "sending"
    clock.advance(LATER)
    assert await worker.run_once() == 1

    (accepted,) = stub.accepted
    assert len(stub.lookups()) == 1
    assert len(stub.creations()) == 2
    row = await message(db)
    assert (row.status, row.provider_id, row.send_attempts) == ("sent", accepted.sid, 2)


async def test_the_lookup_never_takes_another_messages_text(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    """Two calls, the same "we missed you" text: the second's unclear attempt created nothing,
    and the first's message (same recipient and body) is not mistaken for it."""
    db = migrated_db
    await queue(db, clock, key="call:CA1:missed")
    assert await worker.run_once() == 1
    await queue(db, clock, key="call:CA2:missed")
    stub.respond(503)
    assert await worker.run_once() == 1
    clock.advance(LATER)

    assert await worker.run_once() == 1

    first, second = stub.accepted
    assert (await message(db, "call:CA1:missed")).provider_id == first.sid
    assert (await message(db, "call:CA2:missed")).provider_id == second.sid
