"""``POST /twilio/sms/status`` against a real server: signed delivery callbacks move a text's
status forward only; bad signatures and incomplete forms change nothing."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from sqlalchemy import Connection, select

from sms.db import messages
from sms.messages import mark_sent, record_outbound
from tests.clock import FrozenClock
from tests.conftest import AUTH_TOKEN, RunningServer, ServerFactory
from tests.conftest import signed_post as post_signed

CLOCK = FrozenClock()
NOW = CLOCK.now

PATH = "/twilio/sms/status"
SID = "SM" + "b" * 32


async def signed_post(
    server: RunningServer, form: dict[str, str], token: str = AUTH_TOKEN
) -> tuple[int, str]:
    """POST ``form`` to the status URL signed for the public URL: status and body."""
    reply = await post_signed(server, PATH, form, token)
    return reply.status, reply.text


def callback(status: str, sid: str = SID, error_code: str = "") -> dict[str, str]:
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550001",
        "To": "+15005550006",
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    return form


async def sent_message(server: RunningServer) -> int:
    """A text recorded and accepted by Twilio as ``SID``; its id."""

    def work(conn: Connection) -> int:
        row = record_outbound(
            conn, to="+15005550006", from_="+15005550001", body="Hi", idempotency_key="k1", now=NOW
        )
        mark_sent(conn, row.id, "twilio", SID, "queued", now=NOW)
        return row.id

    return await server.db.write(work)


async def stored(server: RunningServer, message_id: int) -> dict[str, object]:
    query = select(messages).where(messages.c.id == message_id)
    return await server.db.read(lambda conn: dict(conn.execute(query).mappings().one()))


async def test_statuses_move_forward_only(servers: ServerFactory) -> None:
    server = await servers.start()
    message_id = await sent_message(server)

    assert await signed_post(server, callback("sent")) == (204, "")
    assert (await stored(server, message_id))["status"] == "sent"
    assert await signed_post(server, callback("delivered")) == (204, "")
    delivered = await stored(server, message_id)
    assert delivered["status"] == "delivered"
    assert delivered["delivered_at"] is not None

    # Late, repeated and contradicting callbacks: answered, and nothing changes.
    for late in (callback("sent"), callback("delivered"), callback("failed", error_code="30003")):
        assert await signed_post(server, late) == (204, "")
    assert await stored(server, message_id) == delivered


async def test_a_failure_keeps_its_error_code(servers: ServerFactory) -> None:
    server = await servers.start()
    message_id = await sent_message(server)
    assert await signed_post(server, callback("undelivered", error_code="30005")) == (204, "")
    row = await stored(server, message_id)
    assert (row["status"], row["error_code"]) == ("undelivered", 30005)


async def test_an_unknown_message_sid_is_a_no_op(servers: ServerFactory) -> None:
    server = await servers.start()
    message_id = await sent_message(server)
    before = await stored(server, message_id)
    assert await signed_post(server, callback("delivered", sid="SM" + "c" * 32)) == (204, "")
    assert await stored(server, message_id) == before


async def test_a_bad_signature_is_refused_and_nothing_changes(servers: ServerFactory) -> None:
    server = await servers.start()
    message_id = await sent_message(server)
    before = await stored(server, message_id)

    status, _ = await signed_post(server, callback("delivered"), token="0" * 32)
    assert status == 403
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.base_url + PATH, data=callback("delivered")) as unsigned,
    ):
        assert unsigned.status == 403
    assert await stored(server, message_id) == before


@pytest.mark.parametrize("missing", ["MessageStatus", "MessageSid"])
async def test_a_missing_field_is_a_400_naming_it(servers: ServerFactory, missing: str) -> None:
    server = await servers.start()
    message_id = await sent_message(server)
    before = await stored(server, message_id)
    form = callback("delivered")
    del form[missing]
    del form["SmsStatus" if missing == "MessageStatus" else "SmsSid"]
    status, text = await signed_post(server, form)
    assert status == 400
    assert missing in text
    assert await stored(server, message_id) == before


async def test_a_database_failure_is_a_503_logged_with_the_sid(
    servers: ServerFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await servers.start()

    def broken(*_args: object) -> bool:
        raise RuntimeError("database on fire")

    monkeypatch.setattr("sms.routes.apply_delivery_status", broken)
    with caplog.at_level(logging.ERROR, logger="sms.routes"):
        status, _ = await signed_post(server, callback("delivered"))
    assert status == 503
    assert any(SID in record.getMessage() for record in caplog.records)
