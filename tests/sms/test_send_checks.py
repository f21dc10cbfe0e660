"""Checked when a text leaves, not only when it was queued: opt-outs, the workflow's quiet
hours, refused credentials, allowed countries and number types, the hourly cap. Against
TwilioApiStub over a real socket, with the real send job run by a JobWorker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType
from sqlalchemy import select

from ringflow.database import Database, stored_time
from ringflow.settings import load_settings
from sms.messages import MessageRow, message_by_key
from sms.routes import handle_inbound
from sms.send_job import (
    CREDENTIALS_PAUSE,
    OPTED_OUT_ERROR,
    SEND_SMS,
    SendRules,
    SendSmsHandler,
    queue_text,
)
from sms.twilio_provider import TwilioSmsProvider
from tests.clock import MONDAY, MovableClock, next_weekday_at
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub
from workflows.jobs import JobWorker, RetryPolicy, jobs
from workflows.schedules import Schedule, ScheduleBook, parse_spec

NEW_YORK = ZoneInfo("America/New_York")
TO = "+15005550006"
FROM = "+15005550001"
OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "America/New_York",
            "weekly": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
            "quiet_hours": ["21:00-08:00"],
        }
    )
)
BOOK = ScheduleBook({"office": OFFICE})


def example(region: str, kind: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


UK_MOBILE = example("GB", PhoneNumberType.MOBILE)
US_PREMIUM = example("US", PhoneNumberType.PREMIUM_RATE)
AT_SHARED_COST = example("AT", PhoneNumberType.SHARED_COST)

Workers = Callable[..., JobWorker]


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(next_weekday_at(MONDAY, time(10), NEW_YORK))


@pytest.fixture
async def workers(
    migrated_db: Database, stub: TwilioApiStub, clock: MovableClock
) -> AsyncIterator[Workers]:
    """Makes send workers with the given rules (and auth token), closed at the end."""
    providers: list[TwilioSmsProvider] = []

    def make(
        rules: SendRules | None = None, token: str = AUTH_TOKEN, concurrency: int = 10
    ) -> JobWorker:
        provider = TwilioSmsProvider(ACCOUNT_SID, token, api_base_url=stub.base_url, timeout=5)
        providers.append(provider)
        handler = SendSmsHandler(migrated_db, provider, "twilio", None, clock=clock, rules=rules)
        return JobWorker(
            migrated_db,
            {SEND_SMS: handler},
            owner="test",
            policy=RetryPolicy(),
            clock=clock,
            concurrency=concurrency,
        )

    yield make
    for provider in providers:
        await provider.close()


async def queue(
    db: Database,
    clock: MovableClock,
    key: str,
    *,
    to: str = TO,
    hours: str | None = None,
    compliance: bool = False,
    due_at: datetime | None = None,
) -> None:
    await db.write(
        lambda conn: queue_text(
            conn,
            to=to,
            from_=FROM,
            body=f"text {key}",
            key=key,
            hours=hours,
            compliance=compliance,
            due_at=due_at,
            now=clock(),
        )
    )


async def message(db: Database, key: str) -> MessageRow:
    row = await db.read(lambda conn: message_by_key(conn, key))
    assert row is not None
    return row


async def job(db: Database, key: str) -> tuple[str, int, datetime, str | None]:
    query = select(jobs.c.status, jobs.c.attempts, jobs.c.due_at, jobs.c.last_error).where(
        jobs.c.dedupe_key == key
    )
    status, attempts, due_at, error = await db.read(lambda conn: conn.execute(query).one())
    return str(status), int(attempts), stored_time(due_at), error


# --- opt-outs -----------------------------------------------------------------------------


async def test_a_stop_committed_after_a_text_was_queued_wins(
    migrated_db: Database, stub: TwilioApiStub, workers: Workers, clock: MovableClock
) -> None:
    db = migrated_db
    await queue(db, clock, "reminder")
    settings = load_settings()
    await db.write(
        lambda conn: handle_inbound(
            conn,
            sid="SM" + "1" * 32,
            sender=TO,
            recipient=FROM,
            body="STOP",
            settings=settings,
            now=clock(),
        )
    )

    worker = workers()
    while await worker.run_once():
        pass

    (confirmation,) = stub.accepted  # only the STOP's own confirmation
    assert confirmation.body == settings.sms_stop_reply
    row = await message(db, "reminder")
    assert (row.status, row.error, row.error_code, row.send_attempts) == (
        "failed",
        OPTED_OUT_ERROR,
        21610,
        0,
    )


# --- quiet hours --------------------------------------------------------------------------


async def test_a_text_that_comes_due_at_night_waits_for_the_morning(
    migrated_db: Database, stub: TwilioApiStub, workers: Workers, clock: MovableClock
) -> None:
    """A backlog after downtime (or a retry) due at 23:00: deferred to 08:00, not failed,
    not counted as an attempt."""
    db = migrated_db
    worker = workers(SendRules(quiet_until=BOOK.quiet_until))
    await queue(db, clock, "missed", hours="office")  # queued at 10:00, due at once
    clock.set(clock().astimezone(NEW_YORK).replace(hour=23))  # the server was down till 23:00

    assert await worker.run_once() == 1

    assert stub.requests == []
    status, attempts, due_at, error = await job(db, "missed")
    tomorrow = clock().astimezone(NEW_YORK) + timedelta(days=1)
    morning = tomorrow.replace(hour=8, minute=0, second=0, microsecond=0)
    assert (status, attempts, due_at) == ("queued", 0, morning)
    assert error is not None
    assert "quiet hours of 'office'" in error
    assert (await message(db, "missed")).status == "queued"

    clock.set(morning + timedelta(seconds=1))
    assert await worker.run_once() == 1
    (accepted,) = stub.accepted
    assert accepted.body == "text missed"
    assert (await job(db, "missed"))[:2] == ("done", 1)


async def test_replies_and_compliance_texts_are_not_held_at_night(
    migrated_db: Database, stub: TwilioApiStub, workers: Workers, clock: MovableClock
) -> None:
    db = migrated_db
    worker = workers(SendRules(quiet_until=BOOK.quiet_until))
    clock.set(clock().astimezone(NEW_YORK).replace(hour=23))
    await queue(db, clock, "reply")  # answers the contact's own text: no hours
    await queue(db, clock, "confirm", hours="office", compliance=True)

    assert await worker.run_once() == 2

    assert sorted(m.body for m in stub.accepted) == ["text confirm", "text reply"]


# --- credentials --------------------------------------------------------------------------


async def test_refused_credentials_pause_sending_loudly_and_keep_the_texts(
    migrated_db: Database,
    stub: TwilioApiStub,
    workers: Workers,
    clock: MovableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = migrated_db
    keys = [f"text-{n}" for n in range(5)]
    for key in keys:
        await queue(db, clock, key)
    worker = workers(token="wrong", concurrency=1)  # one at a time, to count the calls

    with caplog.at_level(logging.ERROR):
        assert await worker.run_once() == 5

    assert len(stub.creations()) == 1, "one 401 stops the others from trying"
    assert stub.accepted == []
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "TWILIO_AUTH_TOKEN" in error.getMessage()
    for key in keys:
        status, attempts, due_at, reason = await job(db, key)
        assert (status, attempts) == ("queued", 0)
        assert due_at >= clock() + CREDENTIALS_PAUSE - timedelta(seconds=1)
        assert reason is not None
        assert "Twilio refused our credentials (HTTP 401, code 20003" in reason
        assert (await message(db, key)).status == "queued"

    clock.advance(CREDENTIALS_PAUSE + timedelta(seconds=1))
    assert await worker.run_once() == 5  # still wrong: one more try, paused again
    assert len(stub.creations()) == 2

    fixed = workers()  # the admin fixed the token and restarted
    clock.advance(CREDENTIALS_PAUSE + timedelta(seconds=1))
    assert await fixed.run_once() == 5
    assert sorted(m.body for m in stub.accepted) == [f"text {key}" for key in keys]


# --- destinations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "words"),
    [
        (UK_MOBILE, "not the sending number's country (US)"),
        (US_PREMIUM, "premium-rate numbers are never texted"),
        (AT_SHARED_COST, "shared-cost numbers are never texted"),
    ],
)
async def test_texts_to_refused_destinations_fail_with_the_rule(
    migrated_db: Database,
    stub: TwilioApiStub,
    workers: Workers,
    clock: MovableClock,
    to: str,
    words: str,
) -> None:
    db = migrated_db
    await queue(db, clock, "refused", to=to)

    assert await workers().run_once() == 1

    assert stub.requests == []
    row = await message(db, "refused")
    assert row.status == "failed"
    assert row.error is not None
    assert row.error.startswith("refused: ")
    assert words in row.error
    assert (await job(db, "refused"))[0] == "done"


async def test_allowed_countries_let_other_countries_through(
    migrated_db: Database, stub: TwilioApiStub, workers: Workers, clock: MovableClock
) -> None:
    db = migrated_db
    await queue(db, clock, "uk", to=UK_MOBILE)
    await queue(db, clock, "us")
    await queue(db, clock, "ca", to=example("CA", PhoneNumberType.FIXED_LINE_OR_MOBILE))

    assert await workers(SendRules(allowed_countries=frozenset({"GB", "US"}))).run_once() == 3

    assert sorted(m.to for m in stub.accepted) == sorted([UK_MOBILE, TO])
    ca = await message(db, "ca")
    assert ca.status == "failed"
    assert ca.error == "refused: CA is not in RINGFLOW_SMS_ALLOWED_COUNTRIES (GB,US)"


# --- the hourly cap -----------------------------------------------------------------------


async def test_the_hourly_cap_holds_across_workers_and_spares_compliance_texts(
    migrated_db: Database, stub: TwilioApiStub, workers: Workers, clock: MovableClock
) -> None:
    db = migrated_db
    rules = SendRules(hourly_cap=3)
    first, second = workers(rules), workers(rules)  # two processes, one messages table
    for n in range(3):
        await queue(db, clock, f"a{n}")
    await first.run_once()
    for n in range(2):
        await queue(db, clock, f"b{n}")
    await queue(db, clock, "stop-confirm", compliance=True)
    await second.run_once()

    assert sorted(m.body for m in stub.accepted) == [
        "text a0",
        "text a1",
        "text a2",
        "text stop-confirm",
    ]
    for key in ("b0", "b1"):
        row = await message(db, key)
        assert row.status == "failed"
        assert row.error == (
            "refused: the hourly cap on automated texts is reached "
            "(3 an hour, RINGFLOW_SMS_HOURLY_CAP)"
        )

    clock.advance(timedelta(hours=1, seconds=1))  # the hour has passed
    await queue(db, clock, "c0")
    await second.run_once()
    assert stub.accepted[-1].body == "text c0"
