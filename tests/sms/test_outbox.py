"""The local outbox: marks the recorded message sent and prints it to the admin's terminal."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from ringflow.database import Database
from sms.db import messages
from sms.errors import PermanentSmsError
from sms.messages import MessageRow, apply_delivery_status, mark_sent, record_outbound
from sms.outbox import OutboxProvider
from sms.provider import OutgoingSms, SmsProvider
from tests.clock import FrozenClock

CLOCK = FrozenClock()
NOW = CLOCK.now

BODY = "Thanks for calling Acme! " * 8  # 200 GSM-7 characters: 2 segments


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


def outgoing(key: str = "call:CA1:thanks", body: str = BODY) -> OutgoingSms:
    return OutgoingSms(to="+15005550006", from_="+15005550001", body=body, idempotency_key=key)


async def record(db: Database, sms: OutgoingSms) -> MessageRow:
    """Record ``sms`` to send, as the event that causes it does."""
    return await db.write(
        lambda conn: record_outbound(
            conn,
            to=sms.to,
            from_=sms.from_,
            body=sms.body,
            idempotency_key=sms.idempotency_key,
            now=NOW,
        )
    )


async def test_the_outbox_marks_the_message_sent_and_prints_it(db: Database) -> None:
    out = io.StringIO()
    provider: SmsProvider = OutboxProvider(db, out, clock=CLOCK)
    sms = outgoing()
    # What the event does, in its own transaction: record the text (and enqueue its job).
    recorded = await record(db, sms)
    # What the send job does: hand it to the provider, then mark it sent.
    sent = await provider.send(sms)
    assert re.fullmatch(r"OB[0-9a-f]{32}", sent.provider_id)
    assert (sent.status, sent.segments) == ("sent", 2)
    assert await db.write(
        lambda conn: mark_sent(conn, recorded.id, "outbox", sent.provider_id, sent.status, now=NOW)
    )
    assert out.getvalue() == f"OUTBOX to +15005550006 (2 segments): {BODY}\n"

    row = await db.read(
        lambda conn: conn.execute(select(messages).where(messages.c.id == recorded.id)).one()
    )
    assert (row.provider, row.provider_id, row.status) == ("outbox", sent.provider_id, "sent")
    assert row.sent_at is not None

    # A retried job sends nothing more and gets the same id.
    again = await provider.send(sms)
    assert again.provider_id == sent.provider_id
    assert out.getvalue().count("OUTBOX") == 1
    # Delivery callbacks would apply to it like to a Twilio message.
    assert await db.write(
        lambda conn: apply_delivery_status(conn, sent.provider_id, "delivered", None, now=NOW)
    )
    await provider.close()


async def test_one_segment_is_singular_and_stdout_is_the_default(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    sms = outgoing("k", "안녕하세요")
    await record(db, sms)
    await OutboxProvider(db, clock=CLOCK).send(sms)
    assert capsys.readouterr().out == "OUTBOX to +15005550006 (1 segment): 안녕하세요\n"


async def test_a_message_never_recorded_is_refused(db: Database) -> None:
    out = io.StringIO()
    with pytest.raises(PermanentSmsError, match="no message recorded"):
        await OutboxProvider(db, out, clock=CLOCK).send(outgoing("nobody-recorded-this"))
    assert out.getvalue() == ""
