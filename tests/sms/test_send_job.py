"""The send job: queue_text in the caller's transaction, SendSmsHandler run by a JobWorker,
against TwilioApiStub over a real loopback socket (and the outbox)."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Connection, func, select

from ringflow.database import Database
from ringflow.settings import load_settings
from server import JOB_WORKER, SMS_PROVIDER
from sms.db import messages
from sms.messages import MessageRow, apply_delivery_status, mark_failed, message_by_key
from sms.outbox import OutboxProvider
from sms.send_job import SEND_SMS, SendSmsHandler, queue_text
from sms.twilio_provider import TwilioSmsProvider
from tests.clock import FrozenClock, MovableClock
from tests.conftest import PUBLIC_URL, ServerFactory
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub
from workflows.jobs import JobWorker, RetryPolicy, jobs

CLOCK = FrozenClock()
NOW = CLOCK.now

TO = "+15005550006"
FROM = "+15005550001"
BODY = "Thanks for calling Acme! We will call you back within the hour."
CALLBACK = "https://ivr.example.com/twilio/sms/status"


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def worker(db: Database, provider: TwilioSmsProvider, clock: MovableClock) -> JobWorker:
    handler = SendSmsHandler(db, provider, "twilio", CALLBACK, clock=clock)
    return JobWorker(db, {SEND_SMS: handler}, owner="test", policy=RetryPolicy(), clock=clock)


async def queue(db: Database, key: str = "call:CA1:thanks", to: str = TO) -> int | None:
    return await db.write(
        lambda conn: queue_text(conn, to=to, from_=FROM, body=BODY, key=key, now=NOW)
    )


async def message(db: Database, key: str = "call:CA1:thanks") -> MessageRow:
    row = await db.read(lambda conn: message_by_key(conn, key))
    assert row is not None
    return row


async def job_status(db: Database, key: str = "call:CA1:thanks") -> str:
    query = select(jobs.c.status).where(jobs.c.dedupe_key == key)
    return str(await db.read(lambda conn: conn.execute(query).scalar_one()))


async def count(db: Database, table: str) -> int:
    source = messages if table == "messages" else jobs
    query = select(func.count()).select_from(source)
    return int(await db.read(lambda conn: conn.execute(query).scalar_one()))


async def test_a_queued_text_is_sent_once(
    db: Database, stub: TwilioApiStub, worker: JobWorker
) -> None:
    message_id = await queue(db)
    assert message_id is not None
    assert await job_status(db) == "queued"

    assert await worker.run_once() == 1

    (accepted,) = stub.accepted
    assert (accepted.to, accepted.from_, accepted.body) == (TO, FROM, BODY)
    assert accepted.status_callback == CALLBACK
    row = await message(db)
    assert row.id == message_id
    assert (row.status, row.provider, row.provider_id) == ("sent", "twilio", accepted.sid)
    assert row.sent_at is not None
    assert await job_status(db) == "done"
    assert await worker.run_once() == 0
    assert len(stub.requests) == 1


async def test_the_same_key_twice_queues_one_message_and_one_job(db: Database) -> None:
    first = await queue(db)
    again = await queue(db)

    assert first is not None
    assert again is None
    assert await count(db, "messages") == 1
    assert await count(db, "jobs") == 1


async def test_queue_text_commits_with_the_callers_transaction(db: Database) -> None:
    class Rollback(Exception):
        pass

    def event(conn: Connection) -> None:
        queue_text(conn, to=TO, from_=FROM, body=BODY, key="k", now=NOW)
        raise Rollback

    with pytest.raises(Rollback):
        await db.write(event)
    assert await count(db, "messages") == 0
    assert await count(db, "jobs") == 0


async def test_a_rate_limited_send_is_retried_and_sent_exactly_once(
    db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    await queue(db)
    stub.respond(429, retry_after=1)

    assert await worker.run_once() == 1
    assert stub.accepted == []
    assert await job_status(db) == "queued"
    assert (await message(db)).status == "queued"

    clock.advance(timedelta(minutes=5))  # past any backoff of a first attempt
    assert await worker.run_once() == 1

    (accepted,) = stub.accepted
    assert len(stub.creations()) == 2
    assert stub.lookups() == [], "a 429 created nothing: the retry sends without a lookup"
    row = await message(db)
    assert (row.status, row.provider_id) == ("sent", accepted.sid)
    assert await job_status(db) == "done"


async def test_an_opted_out_recipient_fails_the_message_and_kills_the_job(
    db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    await queue(db)
    stub.respond(400, code=21610)

    assert await worker.run_once() == 1
    clock.advance(timedelta(days=1))
    assert await worker.run_once() == 0

    assert len(stub.requests) == 1
    assert stub.accepted == []
    row = await message(db)
    assert (row.status, row.error_code, row.provider_id) == ("failed", 21610, None)
    assert row.error is not None
    assert "unsubscribed" in row.error
    assert await job_status(db) == "dead"


async def test_another_refusal_fails_the_message_with_its_code(
    db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    await queue(db)
    stub.respond(400, code=21211)

    assert await worker.run_once() == 1
    clock.advance(timedelta(days=1))
    assert await worker.run_once() == 0

    assert len(stub.requests) == 1
    row = await message(db)
    assert (row.status, row.error_code) == ("failed", 21211)
    assert await job_status(db) == "dead"


async def test_a_message_sent_before_a_crash_is_not_sent_again(
    db: Database, stub: TwilioApiStub, worker: JobWorker, clock: MovableClock
) -> None:
    await queue(db)
    assert await worker.run_once() == 1
    # As if the worker died after mark_sent but before the job was recorded done.
    await db.write(
        lambda conn: conn.execute(
            jobs.update().values(status="queued", lease_owner=None, lease_expires_at=None)
        )
    )

    assert await worker.run_once() == 1

    assert len(stub.requests) == 1
    assert await job_status(db) == "done"


async def test_mark_failed_only_moves_forward(db: Database) -> None:
    await queue(db)
    row = await message(db)
    await db.write(lambda conn: conn.execute(messages.update().values(provider_id="SM1")))
    assert await db.write(lambda conn: apply_delivery_status(conn, "SM1", "delivered", now=NOW))

    assert not await db.write(lambda conn: mark_failed(conn, row.id, 30003, "unreachable", now=NOW))
    after = await message(db)
    assert (after.status, after.error_code, after.error) == ("delivered", None, None)


async def test_the_outbox_prints_one_line(db: Database, clock: MovableClock) -> None:
    out = io.StringIO()
    outbox = OutboxProvider(db, out, clock=clock)
    handler = SendSmsHandler(db, outbox, "outbox", None, clock=clock)
    worker = JobWorker(db, {SEND_SMS: handler}, owner="test", policy=RetryPolicy(), clock=clock)
    await queue(db)

    assert await worker.run_once() == 1
    await db.write(lambda conn: conn.execute(jobs.update().values(status="queued")))
    assert await worker.run_once() == 1  # run again (a retry after a crash): prints nothing

    assert out.getvalue() == f"OUTBOX to {TO} (1 segment): {BODY}\n"
    row = await message(db)
    assert (row.status, row.provider) == ("sent", "outbox")
    assert row.provider_id is not None
    assert row.provider_id.startswith("OB")
    assert await job_status(db) == "done"


async def test_the_server_runs_the_worker_with_twilio(
    stub: TwilioApiStub, servers: ServerFactory
) -> None:
    server = await servers.start(
        auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID, twilio_api_base_url=stub.base_url
    )
    worker = server.app[JOB_WORKER]
    assert isinstance(server.app[SMS_PROVIDER], TwilioSmsProvider)
    await queue(server.db)
    worker.wake()

    for _ in range(200):  # up to 10 s
        if (await message(server.db)).status == "sent":
            break
        await asyncio.sleep(0.05)

    (accepted,) = stub.accepted
    assert accepted.status_callback == f"{PUBLIC_URL}/twilio/sms/status"
    assert (await message(server.db)).provider_id == accepted.sid


async def test_the_server_uses_the_outbox_without_twilio_credentials(
    servers: ServerFactory,
) -> None:
    server = await servers.start(worker=False)

    assert isinstance(server.app[SMS_PROVIDER], OutboxProvider)
    assert JOB_WORKER not in server.app


def test_sms_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("RINGFLOW_TWILIO_API_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("RINGFLOW_WORKER", "false")
    monkeypatch.setenv("RINGFLOW_JOB_LEASE_SECONDS", "2.5")
    settings = load_settings()

    assert settings.twilio_account_sid == ACCOUNT_SID
    assert settings.twilio_api_base_url == "http://127.0.0.1:9999"
    assert settings.worker is False
    assert settings.job_lease_seconds == 2.5


def test_send_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().allowed_countries is None  # default: the sending number's country
    assert load_settings().sms_hourly_cap == 1000
    monkeypatch.setenv("RINGFLOW_SMS_ALLOWED_COUNTRIES", " us, ca ,US")
    monkeypatch.setenv("RINGFLOW_SMS_HOURLY_CAP", "250")
    settings = load_settings()

    assert settings.allowed_countries == frozenset({"US", "CA"})
    assert settings.sms_hourly_cap == 250


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("RINGFLOW_SMS_ALLOWED_COUNTRIES", "US,XX", "unknown country codes XX"),
        ("RINGFLOW_SMS_HOURLY_CAP", "0", "greater than or equal to 1"),
    ],
)
def test_bad_send_limits_fail_at_start_with_their_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert name.removeprefix("RINGFLOW_").lower() in str(caught.value)
    assert problem in str(caught.value)
