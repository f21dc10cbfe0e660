"""The message log: outbound texts recorded with their segments, marked sent, moved forward
by delivery callbacks only; and ``ringflow messages``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from ringflow.database import Database, open_database, stored_time
from server import main
from sms.db import messages
from sms.messages import (
    HOUR,
    HourlyCap,
    MessageRow,
    apply_delivery_status,
    automated_texts_since,
    format_messages,
    mark_not_sent,
    mark_sending,
    mark_sent,
    outbound_status,
    recent_messages,
    record_outbound,
)
from sms.optouts import opt_out
from tests.clock import FrozenClock
from workflows.phones import InvalidPhoneNumber

CLOCK = FrozenClock()
NOW = CLOCK.now

SID = "SM" + "a" * 32


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


async def record(
    db: Database, body: str = "Your table is ready.", key: str = "k1", compliance: bool = False
) -> MessageRow:
    return await db.write(
        lambda conn: record_outbound(
            conn,
            to="+1 (500) 555-0006",
            from_="+15005550001",
            body=body,
            idempotency_key=key,
            compliance=compliance,
            now=NOW,
        )
    )


async def row(db: Database, message_id: int) -> MessageRow:
    found = await db.read(
        lambda conn: conn.execute(select(messages).where(messages.c.id == message_id)).one()
    )
    return MessageRow(**found._asdict())


async def test_outbound_is_recorded_with_its_segments_and_encoding(db: Database) -> None:
    message = await record(db, "a" * 161)
    assert message.direction == "outbound"
    assert message.status == "queued"
    assert message.to_number == message.contact_number == "+15005550006"
    assert message.from_number == "+15005550001"
    assert (message.encoding, message.segments) == ("GSM-7", 2)
    assert message.provider is None
    assert message.provider_id is None
    assert message.sent_at is None

    korean = await record(db, "예약이 확인되었습니다. 감사합니다!", key="k2")
    assert (korean.encoding, korean.segments) == ("UCS-2", 1)
    long_korean = await record(db, "가" * 71, key="k3")
    assert (long_korean.encoding, long_korean.segments) == ("UCS-2", 2)


async def test_the_same_idempotency_key_records_once(db: Database) -> None:
    first = await record(db, key="same")
    again = await record(db, body="something else", key="same")
    assert again == first
    query = select(func.count()).select_from(messages)
    assert await db.read(lambda conn: conn.execute(query).scalar_one()) == 1


async def test_a_junk_recipient_is_refused(db: Database) -> None:
    with pytest.raises(InvalidPhoneNumber, match="is not a phone number"):
        await db.write(
            lambda conn: record_outbound(
                conn, to="nobody", from_="+15005550001", body="hi", idempotency_key="k", now=NOW
            )
        )


async def test_statuses_only_move_forward(db: Database) -> None:
    message = await record(db)
    assert await db.write(
        lambda conn: mark_sent(conn, message.id, "twilio", SID, "queued", now=NOW)
    )
    assert await db.write(
        lambda conn: mark_sent(conn, message.id, "twilio", SID, "queued", now=NOW)
    )
    assert not await db.write(
        lambda conn: mark_sent(conn, message.id, "twilio", "SMother", "sent", now=NOW)
    )
    marked = await row(db, message.id)
    assert (marked.provider, marked.provider_id, marked.status) == ("twilio", SID, "queued")

    async def callback(status: str, error_code: int | None = None) -> bool:
        return await db.write(
            lambda conn: apply_delivery_status(conn, SID, status, error_code, now=NOW)
        )

    assert await callback("sending")
    assert await callback("sent")
    sent = await row(db, message.id)
    assert sent.status == "sent"
    assert sent.sent_at is not None
    assert not await callback("queued")  # late
    assert not await callback("sent")  # repeated
    assert await callback("delivered")
    delivered = await row(db, message.id)
    assert delivered.status == "delivered"
    assert delivered.delivered_at is not None
    assert delivered.sent_at == sent.sent_at
    assert not await callback("delivered")
    assert not await callback("failed", 30003)
    assert not await callback("sent")
    assert await row(db, message.id) == delivered


async def test_a_failure_keeps_its_error_code(db: Database) -> None:
    message = await record(db)
    await db.write(lambda conn: mark_sent(conn, message.id, "twilio", SID, "accepted", now=NOW))
    assert await db.write(
        lambda conn: apply_delivery_status(conn, SID, "undelivered", 30003, now=NOW)
    )
    failed = await row(db, message.id)
    assert (failed.status, failed.error_code) == ("undelivered", 30003)
    assert not await db.write(
        lambda conn: apply_delivery_status(conn, SID, "delivered", None, now=NOW)
    )


async def test_unknown_sids_and_statuses_change_nothing(db: Database) -> None:
    message = await record(db)
    await db.write(lambda conn: mark_sent(conn, message.id, "twilio", SID, "queued", now=NOW))
    assert not await db.write(
        lambda conn: apply_delivery_status(conn, "SMunknown", "sent", None, now=NOW)
    )
    assert not await db.write(
        lambda conn: apply_delivery_status(conn, SID, "received", None, now=NOW)
    )
    assert not await db.write(lambda conn: apply_delivery_status(conn, SID, "bogus", None, now=NOW))
    assert (await row(db, message.id)).status == "queued"


def test_twilio_statuses_are_mapped() -> None:
    assert outbound_status("accepted") == "queued"
    assert outbound_status("scheduled") == "queued"
    assert outbound_status("read") == "delivered"
    assert outbound_status("canceled") == "failed"
    assert outbound_status("Delivered") == "delivered"
    assert outbound_status("receiving") is None
    assert outbound_status("received") is None
    assert outbound_status("") is None


async def test_recent_messages_newest_first(db: Database) -> None:
    await record(db, "first", key="1")
    await record(db, "second\nline " + "x" * 80, key="2")
    entries = await recent_messages(db, 10)
    assert [entry.body.split("\n")[0] for entry in entries] == ["second", "first"]
    assert len(await recent_messages(db, 1)) == 1


def test_format_messages_shortens_bodies() -> None:
    now = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    entry = MessageRow(
        id=1,
        direction="outbound",
        contact_number="+15005550006",
        from_number="+15005550001",
        to_number="+15005550006",
        body="line one\nline two " + "y" * 100,
        encoding="GSM-7",
        segments=1,
        status="delivered",
        provider="twilio",
        provider_id=SID,
        idempotency_key="k",
        error_code=None,
        error=None,
        created_at=now,
        updated_at=now,
        sent_at=now,
        delivered_at=now,
        send_attempts=1,
        first_sending_at=now,
        sending_at=now,
        compliance=False,
    )
    lines = format_messages([entry]).splitlines()
    assert lines[0].split() == [
        "time",
        "(UTC)",
        "direction",
        "from",
        "to",
        "status",
        "segs",
        "body",
    ]
    assert lines[1].startswith("2026-11-26 09:30:00  outbound")
    body = lines[1][lines[0].index("body") :]
    assert body.startswith("line one line two yyy")
    assert len(body) == 60
    assert body.endswith("…")
    assert format_messages([]) == "no messages yet"


def test_ringflow_messages_prints_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGFLOW_DATA_DIR", str(tmp_path / "data"))
    for name in ("RINGFLOW_DATABASE_URL", "RINGFLOW_PUBLIC_URL", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["messages"]) == 0
    assert capsys.readouterr().out.strip() == "no messages yet"

    async def add() -> None:
        database = await open_database(f"sqlite:///{tmp_path / 'data' / 'ringflow.db'}")
        try:
            message = await record(database, "Your order shipped.")
            await database.write(
                lambda conn: mark_sent(conn, message.id, "twilio", SID, "sent", now=NOW)
            )
        finally:
            await database.close()

    asyncio.run(add())
    assert main(["messages", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["time", "(UTC)", "direction"]
    assert lines[1].split()[2:] == [
        "outbound",
        "+15005550001",
        "+15005550006",
        "sent",
        "1",
        "Your",
        "order",
        "shipped.",
    ]


async def test_mark_sending_counts_attempts_and_keeps_the_first_time(db: Database) -> None:
    message = await record(db)
    later = NOW + timedelta(minutes=1)

    assert (
        await db.write(
            lambda c: mark_sending(c, message.id, attempts_seen=0, compliance=False, now=NOW)
        )
        == 1
    )
    assert (
        await db.write(
            lambda c: mark_sending(c, message.id, attempts_seen=1, compliance=False, now=later)
        )
        == 2
    )
    stored = await row(db, message.id)
    assert (stored.status, stored.send_attempts) == ("sending", 2)
    assert stored.first_sending_at is not None
    assert stored_time(stored.first_sending_at) == NOW
    assert stored.sending_at is not None
    assert stored_time(stored.sending_at) == later

    assert await db.write(lambda c: mark_not_sent(c, message.id, now=later))
    assert (await row(db, message.id)).status == "queued"
    await db.write(lambda c: mark_sent(c, message.id, "twilio", SID, "queued", now=later))
    assert (
        await db.write(
            lambda c: mark_sending(c, message.id, attempts_seen=2, compliance=False, now=later)
        )
        == "not_sendable"
    )
    assert not await db.write(lambda c: mark_not_sent(c, message.id, now=later))


async def test_mark_sending_refuses_a_run_that_read_the_message_before_another_attempt(
    db: Database,
) -> None:
    """Two runs of one job read the message ``queued``; the second to record its attempt
    must not send: the first one's call may be in flight."""
    message = await record(db)

    def start(c: Connection) -> int | str:
        return mark_sending(c, message.id, attempts_seen=0, compliance=False, now=NOW)

    assert await db.write(start) == 1
    assert await db.write(start) == "raced"
    stored = await row(db, message.id)
    assert (stored.status, stored.send_attempts) == ("sending", 1)


async def test_mark_sending_refuses_an_opted_out_recipient_in_the_same_statement(
    db: Database,
) -> None:
    message = await record(db)
    await db.write(lambda c: opt_out(c, "+15005550006", "keyword", "STOP", now=NOW))

    refused = await db.write(
        lambda c: mark_sending(c, message.id, attempts_seen=0, compliance=False, now=NOW)
    )
    confirmed = await db.write(
        lambda c: mark_sending(c, message.id, attempts_seen=0, compliance=True, now=NOW)
    )

    assert (refused, confirmed) == ("opted_out", 1)


async def test_mark_sending_counts_the_hourly_cap_without_compliance_texts(db: Database) -> None:
    cap = HourlyCap(2)
    ids = [(await record(db, key=f"k{n}", compliance=n == 1)).id for n in range(4)]

    async def start(message_id: int, compliance: bool = False, seen: int = 0) -> int | str:
        return await db.write(
            lambda c: mark_sending(
                c, message_id, attempts_seen=seen, compliance=compliance, cap=cap, now=NOW
            )
        )

    assert await start(ids[0]) == 1
    assert await start(ids[1], compliance=True) == 1  # not counted
    assert await start(ids[2]) == 1
    assert await start(ids[3]) == "over_cap"
    assert await start(ids[0], seen=1) == 2  # a retry of a counted text is not refused by itself
    assert await db.read(lambda c: automated_texts_since(c, NOW - HOUR)) == 2
