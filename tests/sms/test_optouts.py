"""Opt-outs: the opt_outs table, and the send job never texting an opted-out number (except
the STOP confirmation, once); a 21610 from the provider opts the number out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from ringflow.database import Database
from sms.db import opt_outs
from sms.messages import MessageRow, message_by_key
from sms.optouts import is_opted_out, opt_in, opt_out
from sms.send_job import OPTED_OUT_ERROR, SEND_SMS, SendSmsHandler, queue_text
from sms.twilio_provider import TwilioSmsProvider
from tests.clock import FrozenClock, MovableClock
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub
from workflows.jobs import JobWorker, RetryPolicy, jobs
from workflows.phones import InvalidPhoneNumber

CLOCK = FrozenClock()
NOW = CLOCK.now

TO = "+15005550006"
FROM = "+15005550001"


@pytest.fixture
async def worker(migrated_db: Database, stub: TwilioApiStub) -> AsyncIterator[JobWorker]:
    provider = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url, timeout=5)
    clock = MovableClock()
    handler = SendSmsHandler(migrated_db, provider, "twilio", None, clock=clock)
    yield JobWorker(
        migrated_db, {SEND_SMS: handler}, owner="test", policy=RetryPolicy(), clock=clock
    )
    await provider.close()


async def queue(db: Database, key: str, *, compliance: bool = False) -> None:
    await db.write(
        lambda conn: queue_text(
            conn, to=TO, from_=FROM, body=f"text {key}", key=key, compliance=compliance, now=NOW
        )
    )


async def message(db: Database, key: str) -> MessageRow:
    row = await db.read(lambda conn: message_by_key(conn, key))
    assert row is not None
    return row


async def job_status(db: Database, key: str) -> str:
    query = select(jobs.c.status).where(jobs.c.dedupe_key == key)
    return str(await db.read(lambda conn: conn.execute(query).scalar_one()))


async def opted_out(db: Database, number: str = TO) -> bool:
    return await db.read(lambda conn: is_opted_out(conn, number))


async def test_opt_out_and_in(migrated_db: Database) -> None:
    db = migrated_db
    assert not await opted_out(db)
    assert await db.write(lambda conn: opt_out(conn, "+1 500-555-0006", "keyword", "STOP", now=NOW))
    assert not await db.write(
        lambda conn: opt_out(conn, TO, "admin", now=NOW)
    )  # already: kept as is
    assert await opted_out(db)
    row = await db.read(lambda conn: conn.execute(select(opt_outs)).one())
    assert (row.number, row.source, row.keyword) == (TO, "keyword", "STOP")
    assert row.opted_out_at is not None

    assert await db.write(lambda conn: opt_in(conn, TO))
    assert not await db.write(lambda conn: opt_in(conn, TO))
    assert not await opted_out(db)


async def test_junk_numbers_are_refused(migrated_db: Database) -> None:
    with pytest.raises(InvalidPhoneNumber):
        await migrated_db.write(lambda conn: opt_out(conn, "not a number", "admin", now=NOW))


async def test_a_text_to_an_opted_out_number_is_never_sent(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker
) -> None:
    db = migrated_db
    await db.write(lambda conn: opt_out(conn, TO, "admin", now=NOW))
    await queue(db, "reminder")

    assert await worker.run_once() == 1
    assert await worker.run_once() == 0

    assert stub.requests == []
    row = await message(db, "reminder")
    assert (row.status, row.error, row.error_code, row.provider_id) == (
        "failed",
        OPTED_OUT_ERROR,
        21610,
        None,
    )
    assert await job_status(db, "reminder") == "done"


async def test_a_compliance_text_reaches_an_opted_out_number_once(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker
) -> None:
    db = migrated_db
    await db.write(lambda conn: opt_out(conn, TO, "keyword", "STOP", now=NOW))
    await queue(db, "optout-confirm:SM1", compliance=True)
    await queue(db, "optout-confirm:SM1", compliance=True)  # a re-run event: nothing new

    assert await worker.run_once() == 1
    assert await worker.run_once() == 0

    (accepted,) = stub.accepted
    assert (accepted.to, accepted.body) == (TO, "text optout-confirm:SM1")
    assert (await message(db, "optout-confirm:SM1")).status == "sent"


async def test_texts_flow_again_after_opt_in(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker
) -> None:
    db = migrated_db
    await db.write(lambda conn: opt_out(conn, TO, "keyword", "STOP", now=NOW))
    await db.write(lambda conn: opt_in(conn, TO))
    await queue(db, "reminder")

    assert await worker.run_once() == 1

    (accepted,) = stub.accepted
    assert accepted.body == "text reminder"
    assert (await message(db, "reminder")).status == "sent"


async def test_a_21610_from_the_provider_opts_the_number_out(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker
) -> None:
    db = migrated_db
    await queue(db, "first")
    stub.respond(400, code=21610)

    assert await worker.run_once() == 1

    row = await message(db, "first")
    assert (row.status, row.error_code) == ("failed", 21610)
    assert await opted_out(db)
    stored = await db.read(lambda conn: conn.execute(select(opt_outs)).one())
    assert (stored.source, stored.keyword) == ("carrier_21610", None)

    # The next automated text to that number never reaches the provider.
    await queue(db, "second")
    assert await worker.run_once() == 1
    assert len(stub.requests) == 1
    assert (await message(db, "second")).error == OPTED_OUT_ERROR


async def test_another_refusal_does_not_opt_out(
    migrated_db: Database, stub: TwilioApiStub, worker: JobWorker
) -> None:
    await queue(migrated_db, "first")
    stub.respond(400, code=21211)
    assert await worker.run_once() == 1
    assert (await message(migrated_db, "first")).status == "failed"
    assert not await opted_out(migrated_db)
