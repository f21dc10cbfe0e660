"""Never a text twice when two runs of one send job overlap.

Under load a handler can stall (a process starved of CPU, a connection pool with nothing free)
until its job's lease expires; the job is then claimed again, by another worker or by the same
one, while the first run is still alive. These tests stall a run deterministically by holding
its database writes at a gate, let the job's lease expire on the test's clock and another
worker claim it, and check that the stalled run, once resumed, sends nothing. Against
TwilioApiStub, which keeps duplicates like Twilio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from ringflow.database import Database
from sms.messages import MessageRow, message_by_key
from sms.send_job import SEND_SMS, SEND_WINDOW, SETTLE, SendSmsHandler, queue_text
from sms.twilio_provider import TwilioSmsProvider
from tests.clock import MovableClock
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub
from workflows.jobs import ClaimedJob, JobDeferred, JobWorker, RetryPolicy, claim

T = TypeVar("T")
P = TypeVar("P")

TO = "+15005550006"
FROM = "+15005550001"
BODY = "Your appointment is tomorrow at 9:00."
KEY = "reminder:A1"
TIMEOUT = 0.3
LEASE = timedelta(minutes=1)
LATER = SETTLE + timedelta(minutes=5)  # past the settle time and any first backoff


class HeldWrites:
    """``db``, except that every write waits while :attr:`gate` is closed (it starts closed):
    a run stalled between reading its message and recording its attempt.
    :attr:`waiting` is set once a write waits."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.url: URL = db.url
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await self._db.read(work)

    async def write(self, work: Callable[[Connection], T]) -> T:
        self.waiting.set()
        await self.gate.wait()
        return await self._db.write(work)

    async def write_batched(self, batch: Callable[[Connection, list[P]], list[T]], item: P) -> T:
        self.waiting.set()
        await self.gate.wait()
        return await self._db.write_batched(batch, item)

    def observe_writes(self, observe: Callable[[float], None]) -> None:
        self._db.observe_writes(observe)

    async def check(self) -> None:
        await self._db.check()

    async def close(self) -> None:
        """Nothing: the database it wraps belongs to the test."""


@pytest.fixture
def clock(stub: TwilioApiStub) -> MovableClock:
    moving = MovableClock()
    stub.clock = moving
    return moving


@pytest.fixture
async def provider(stub: TwilioApiStub) -> AsyncIterator[TwilioSmsProvider]:
    twilio = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url, timeout=TIMEOUT)
    yield twilio
    await twilio.close()


@pytest.fixture
def worker(migrated_db: Database, provider: TwilioSmsProvider, clock: MovableClock) -> JobWorker:
    """The worker that claims the job once the stalled run's lease has expired."""
    handler = SendSmsHandler(migrated_db, provider, "twilio", None, clock=clock)
    return JobWorker(
        migrated_db,
        {SEND_SMS: handler},
        owner="second",
        policy=RetryPolicy(),
        lease=LEASE,
        clock=clock,
    )


async def queue_and_claim(db: Database, clock: MovableClock) -> ClaimedJob:
    """Queue the text; its job as the first worker claims it."""
    await db.write(
        lambda conn: queue_text(conn, to=TO, from_=FROM, body=BODY, key=KEY, now=clock())
    )
    (job,) = await db.write(partial(claim, owner="first", limit=1, now=clock(), lease=LEASE))
    return job


async def message(db: Database) -> MessageRow:
    row = await db.read(lambda conn: message_by_key(conn, KEY))
    assert row is not None
    return row


async def test_a_run_that_read_the_message_before_its_lease_expired_does_not_send_it_again(
    migrated_db: Database,
    stub: TwilioApiStub,
    provider: TwilioSmsProvider,
    worker: JobWorker,
    clock: MovableClock,
) -> None:
    """The first run reads the message ``queued`` and stalls; its lease expires; the second
    run sends the text and its answer is lost. The first run, resumed, must treat that
    attempt as unclear, not send the text again on the strength of what it read."""
    db = migrated_db
    job = await queue_and_claim(db, clock)
    held = HeldWrites(db)
    stalled = asyncio.create_task(SendSmsHandler(held, provider, "twilio", None, clock=clock)(job))
    await held.waiting.wait()  # it read the message queued; recording its attempt waits

    clock.advance(LEASE + timedelta(seconds=1))
    stub.respond(201, delay=5)  # created, answered after the client gave up
    assert await worker.run_once() == 1, "the expired lease was claimed again"
    assert len(stub.accepted) == 1

    held.gate.set()
    with pytest.raises(JobDeferred, match="another attempt started meanwhile"):
        await stalled
    assert len(stub.creations()) == 1, "the stalled run sent the text a second time"

    clock.advance(LATER)
    assert await worker.run_once() == 1
    (accepted,) = stub.accepted
    row = await message(db)
    assert (row.status, row.provider_id, row.send_attempts) == ("sent", accepted.sid, 1)


async def test_a_call_that_cannot_leave_soon_after_its_attempt_was_recorded_is_not_made(
    migrated_db: Database,
    stub: TwilioApiStub,
    provider: TwilioSmsProvider,
    worker: JobWorker,
    clock: MovableClock,
) -> None:
    """A run stalled after recording ``sending`` would send after the next attempt's lookup
    (``SETTLE`` after ``sending_at``) could have missed its message: it sends nothing, and
    the text goes out once, after the lookup."""
    db = migrated_db
    job = await queue_and_claim(db, clock)
    held = HeldWrites(db)
    run = asyncio.create_task(SendSmsHandler(held, provider, "twilio", None, clock=clock)(job))
    await held.waiting.wait()  # recording ``sending`` at the clock's time now
    clock.advance(SEND_WINDOW + timedelta(seconds=1))  # ...and committed that much later

    held.gate.set()
    with pytest.raises(JobDeferred, match="could not leave within"):
        await run
    assert stub.creations() == []
    assert ((await message(db)).status, (await message(db)).send_attempts) == ("sending", 1)

    clock.advance(LATER)  # the job is claimed again: lease expired, looked up, sent once
    assert await worker.run_once() == 1
    (accepted,) = stub.accepted
    assert len(stub.lookups()) == 1
    row = await message(db)
    assert (row.status, row.provider_id, row.send_attempts) == ("sent", accepted.sid, 2)
