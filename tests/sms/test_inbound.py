"""``POST /twilio/sms`` against a real server: inbound texts are stored once per MessageSid;
STOP / START / HELP opt the sender out and in and queue one reply each, which the send job
delivers to TwilioApiStub (the STOP confirmation being the only text an opted-out number
gets); bad signatures and incomplete forms store nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from ringflow.settings import (
    DEFAULT_HELP_REPLY,
    DEFAULT_START_REPLY,
    DEFAULT_STOP_REPLY,
)
from sms.db import messages, opt_outs
from sms.messages import MessageRow, message_by_key
from sms.optouts import is_opted_out
from sms.send_job import OPTED_OUT_ERROR, SEND_SMS, SendSmsHandler, queue_text
from sms.twilio_provider import TwilioSmsProvider
from tests.conftest import AUTH_TOKEN, RunningServer, ServerFactory
from tests.conftest import signed_post as post_signed
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.fakes.twilio_api import AUTH_TOKEN as API_TOKEN
from workflows.contacts import get_contact
from workflows.jobs import JobWorker, RetryPolicy
from workflows.jobs.db import jobs

PATH = "/twilio/sms"
CUSTOMER = "+15005550006"
OUR_NUMBER = "+15005550001"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@pytest.fixture
async def server(servers: ServerFactory) -> RunningServer:
    # No worker in the server: the test runs its own against the stub.
    return await servers.start(worker=False)


@pytest.fixture
async def worker(server: RunningServer, stub: TwilioApiStub) -> AsyncIterator[JobWorker]:
    provider = TwilioSmsProvider(ACCOUNT_SID, API_TOKEN, api_base_url=stub.base_url, timeout=5)
    handler = SendSmsHandler(server.db, provider, "twilio", None, clock=server.clock)
    yield JobWorker(
        server.db,
        {SEND_SMS: handler},
        owner="test",
        policy=RetryPolicy(),
        clock=server.clock,
    )
    await provider.close()


def inbound(body: str | None, sid: str = "SM" + "1" * 32) -> dict[str, str]:
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": CUSTOMER,
        "To": OUR_NUMBER,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }
    if body is not None:
        form["Body"] = body
    return form


async def signed_post(
    server: RunningServer, form: dict[str, str], token: str = AUTH_TOKEN
) -> tuple[int, str, str]:
    """POST ``form`` signed for the public URL: status, content type, text."""
    reply = await post_signed(server, PATH, form, token)
    return reply.status, reply.content_type, reply.text


async def post_ok(server: RunningServer, form: dict[str, str]) -> None:
    assert await signed_post(server, form) == (200, "text/xml", EMPTY_TWIML)


async def all_messages(server: RunningServer) -> list[MessageRow]:
    query = select(messages).order_by(messages.c.id)
    rows = await server.db.read(lambda conn: conn.execute(query).all())
    return [MessageRow(**row._asdict()) for row in rows]


async def opted_out(server: RunningServer) -> bool:
    return await server.db.read(lambda conn: is_opted_out(conn, CUSTOMER))


async def drain(worker: JobWorker) -> None:
    while await worker.run_once():
        pass


async def automated_text(server: RunningServer, key: str) -> MessageRow:
    now = server.clock()
    await server.db.write(
        lambda conn: queue_text(
            conn,
            to=CUSTOMER,
            from_=OUR_NUMBER,
            body="Your appointment is tomorrow",
            key=key,
            now=now,
        )
    )
    row = await server.db.read(lambda conn: message_by_key(conn, key))
    assert row is not None
    return row


async def test_stop_opts_out_and_confirms_once(
    server: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    stop = inbound("Stop.")
    await post_ok(server, stop)
    await post_ok(server, stop)  # Twilio repeats the webhook: nothing new
    await drain(worker)
    await post_ok(server, stop)  # ... even after the confirmation went out
    await drain(worker)

    assert await opted_out(server)
    row = await server.db.read(lambda conn: conn.execute(select(opt_outs)).one())
    assert (row.number, row.source, row.keyword) == (CUSTOMER, "keyword", "STOP")
    (confirmation,) = stub.accepted
    assert (confirmation.to, confirmation.from_, confirmation.body) == (
        CUSTOMER,
        OUR_NUMBER,
        DEFAULT_STOP_REPLY,
    )
    stored = await all_messages(server)
    assert [(m.direction, m.status) for m in stored] == [
        ("inbound", "received"),
        ("outbound", "sent"),
    ]
    received = stored[0]
    assert (received.body, received.provider, received.provider_id) == (
        "Stop.",
        "twilio",
        stop["MessageSid"],
    )
    assert received.idempotency_key == f"in:{stop['MessageSid']}"
    assert (received.from_number, received.to_number, received.contact_number) == (
        CUSTOMER,
        OUR_NUMBER,
        CUSTOMER,
    )
    assert stored[1].idempotency_key == f"optout-confirm:{stop['MessageSid']}"
    assert await server.db.read(lambda conn: get_contact(conn, CUSTOMER)) is not None

    # From now on, no automated text reaches the number.
    reminder = await automated_text(server, "reminder:1")
    await drain(worker)
    assert len(stub.requests) == 1
    failed = await server.db.read(lambda conn: message_by_key(conn, "reminder:1"))
    assert failed is not None
    assert (failed.id, failed.status, failed.error, failed.error_code) == (
        reminder.id,
        "failed",
        OPTED_OUT_ERROR,
        21610,
    )


@pytest.mark.parametrize(
    "body", ["\u200bSTOP", "\uff33\uff34\uff2f\uff30\uff01", "Opt-Out", "opt out", "\ufeff'stop'"]
)
async def test_stop_words_in_disguise_opt_out_all_the_same(
    server: RunningServer, body: str
) -> None:
    await post_ok(server, inbound(body))
    assert await opted_out(server)
    row = await server.db.read(lambda conn: conn.execute(select(opt_outs)).one())
    assert row.keyword in {"STOP", "OPT-OUT", "OPT OUT"}
    assert [m.idempotency_key for m in await all_messages(server)][-1].startswith("optout-")


async def test_start_opts_in_again_and_texts_flow(
    server: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    await post_ok(server, inbound("STOP", sid="SM" + "1" * 32))
    await drain(worker)
    await post_ok(server, inbound(" start ", sid="SM" + "2" * 32))
    await post_ok(server, inbound(" start ", sid="SM" + "2" * 32))
    await drain(worker)

    assert not await opted_out(server)
    assert [a.body for a in stub.accepted] == [DEFAULT_STOP_REPLY, DEFAULT_START_REPLY]
    assert stub.accepted[1].from_ == OUR_NUMBER

    await automated_text(server, "reminder:2")
    await drain(worker)
    assert [a.body for a in stub.accepted][-1] == "Your appointment is tomorrow"
    sent = await server.db.read(lambda conn: message_by_key(conn, "reminder:2"))
    assert sent is not None
    assert sent.status == "sent"


async def test_help_sends_the_help_text(
    server: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    await post_ok(server, inbound("help"))
    await drain(worker)

    (reply,) = stub.accepted
    assert (reply.to, reply.from_, reply.body) == (CUSTOMER, OUR_NUMBER, DEFAULT_HELP_REPLY)
    assert not await opted_out(server)


async def test_help_is_answered_even_after_stop(
    server: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    await post_ok(server, inbound("STOP", sid="SM" + "1" * 32))
    await post_ok(server, inbound("help", sid="SM" + "2" * 32))
    await drain(worker)

    assert sorted(reply.body for reply in stub.accepted) == sorted(
        [DEFAULT_STOP_REPLY, DEFAULT_HELP_REPLY]
    )
    assert await opted_out(server), "HELP does not opt the number back in"


async def test_replies_come_from_the_settings(servers: ServerFactory) -> None:
    server = await servers.start(worker=False, sms_help_reply="Acme: call 555-0100 for help.")
    await post_ok(server, inbound("INFO"))
    stored = await all_messages(server)
    assert stored[-1].body == "Acme: call 555-0100 for help."


async def test_a_normal_message_is_stored_and_sends_nothing_without_a_workflow(
    server: RunningServer, stub: TwilioApiStub, worker: JobWorker
) -> None:
    await post_ok(server, inbound("please stop calling me before 9"))
    await drain(worker)

    (received,) = await all_messages(server)
    assert (received.direction, received.status, received.body) == (
        "inbound",
        "received",
        "please stop calling me before 9",
    )
    assert not await opted_out(server)
    assert stub.requests == []
    # Handed to the conversation's workflows as one job (no sms.received workflow here); the
    # conversation it opened raised its own events (opened, message.received), one job each.
    query = select(jobs.c.kind)
    kinds = await server.db.read(lambda conn: conn.execute(query).scalars().all())
    assert sorted(kinds) == ["conversation.event", "conversation.event", "sms.inbound"]
    assert await server.count("messages") == 1
    assert await server.count("opt_outs") == 0


async def test_a_bad_signature_is_refused_and_nothing_is_stored(server: RunningServer) -> None:
    status, _, _ = await signed_post(server, inbound("STOP"), token="0" * 32)
    assert status == 403
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.base_url + PATH, data=inbound("STOP")) as unsigned,
    ):
        assert unsigned.status == 403
    for table in ("messages", "opt_outs", "jobs", "contacts"):
        assert await server.count(table) == 0


@pytest.mark.parametrize("missing", ["Body", "From", "To", "MessageSid"])
async def test_a_missing_field_is_a_400_naming_it(server: RunningServer, missing: str) -> None:
    form = inbound("STOP")
    del form[missing]
    if missing == "MessageSid":
        del form["SmsSid"], form["SmsMessageSid"]
    status, _, text = await signed_post(server, form)
    assert status == 400
    assert missing in text
    assert await server.count("messages") == 0
    assert await server.count("opt_outs") == 0


async def test_an_empty_body_is_an_ordinary_message(server: RunningServer) -> None:
    await post_ok(server, inbound(""))
    assert await server.count("messages") == 1


async def test_a_sender_that_is_not_a_number_is_not_stored(server: RunningServer) -> None:
    form = inbound("STOP")
    form["From"] = "ACME"
    await post_ok(server, form)
    assert await server.count("messages") == 0


async def test_a_database_failure_is_a_503_logged_with_the_sid(
    server: RunningServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> bool:
        raise RuntimeError("database on fire")

    monkeypatch.setattr("sms.routes.record_inbound", broken)
    form = inbound("STOP")
    with caplog.at_level(logging.ERROR, logger="sms.routes"):
        status, _, _ = await signed_post(server, form)
    assert status == 503
    assert any(form["MessageSid"] in record.getMessage() for record in caplog.records)
    assert await server.count("messages") == 0
