"""TwilioSmsProvider against TwilioApiStub over a real loopback socket."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import UTC, datetime, time, timedelta

import pytest
from twilio.rest import Client

from sms.errors import (
    CredentialsRefused,
    PermanentSmsError,
    RecipientOptedOut,
    SendOutcomeUnknown,
    SmsError,
    TransientSmsError,
)
from sms.provider import OutgoingSms, SentSms, SmsProvider
from sms.twilio_provider import LOOKUP_PAGE_SIZE, TwilioSmsProvider, parse_retry_after
from tests.clock import FrozenClock
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub

CLOCK = FrozenClock()
NOW = CLOCK.now

TEXT = OutgoingSms(
    to="+15551230001",
    from_="+15557650002",
    body="Your appointment is tomorrow at 10:00.",
    idempotency_key="job-42-attempt-key",
    status_callback="https://ivr.example.com/sms/status",
)


async def test_send_returns_the_sid_status_and_segments(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    sent = await provider.send(TEXT)

    assert re.fullmatch(r"SM[0-9a-f]{32}", sent.provider_id)
    assert sent == SentSms(provider_id=stub.accepted[0].sid, status="queued", segments=1)
    assert stub.accepted[0].resource["date_created"]


async def test_request_carries_auth_and_form(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    await provider.send(TEXT)

    (request,) = stub.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.form == {
        "To": TEXT.to,
        "From": TEXT.from_,
        "Body": TEXT.body,
        "StatusCallback": TEXT.status_callback,
    }
    # Twilio's REST API honours no idempotency header: none is sent, none is relied on.
    assert "I-Twilio-Idempotency-Token" not in request.headers


async def test_no_status_callback_sends_no_field(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    await provider.send(
        OutgoingSms(to=TEXT.to, from_=TEXT.from_, body="€" * 100, idempotency_key="k")
    )

    assert "StatusCallback" not in stub.requests[0].form
    assert stub.accepted[0].resource["num_segments"] == "2"


async def test_opted_out_recipient_is_permanent(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(400, code=21610, message="Attempt to send to unsubscribed recipient")

    with pytest.raises(RecipientOptedOut) as caught:
        await provider.send(TEXT)

    assert isinstance(caught.value, PermanentSmsError)
    assert not isinstance(caught.value, TransientSmsError)
    assert caught.value.code == 21610
    assert caught.value.status == 400
    assert stub.accepted == []


async def test_other_400_is_permanent_with_twilio_code_and_message(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(400, code=21211, message="Invalid 'To' Phone Number")

    with pytest.raises(PermanentSmsError) as caught:
        await provider.send(TEXT)

    assert type(caught.value) is PermanentSmsError
    assert caught.value.code == 21211
    assert caught.value.message == "Invalid 'To' Phone Number"
    assert "21211" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_their_own_error(stub: TwilioApiStub, status: int) -> None:
    if status == 401:
        sender = TwilioSmsProvider(ACCOUNT_SID, "wrong", api_base_url=stub.base_url)
    else:
        stub.respond(403)
        sender = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url)
    async with sender:
        with pytest.raises(CredentialsRefused) as caught:
            await sender.send(TEXT)
        if status == 401:  # a lookup with wrong credentials is refused alike
            with pytest.raises(CredentialsRefused):
                await sender.find_sent(TEXT, since=NOW)

    assert not isinstance(caught.value, TransientSmsError | PermanentSmsError)
    assert caught.value.status == status
    assert f"HTTP {status}, code 20003" in str(caught.value)
    assert "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in str(caught.value)
    assert stub.accepted == []


async def test_429_is_transient_with_retry_after(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(429, retry_after=2)

    with pytest.raises(TransientSmsError) as caught:
        await provider.send(TEXT)

    assert caught.value.status == 429
    assert caught.value.retry_after == 2.0


async def test_500_is_an_unknown_outcome_without_retry_after(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(500)

    with pytest.raises(SendOutcomeUnknown) as caught:
        await provider.send(TEXT)

    assert caught.value.status == 500
    assert caught.value.retry_after is None


async def test_retry_after_a_transient_error_is_accepted(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(503)

    with pytest.raises(TransientSmsError):
        await provider.send(TEXT)
    sent = await provider.send(TEXT)

    assert [message.sid for message in stub.accepted] == [sent.provider_id]


async def test_a_201_stalled_past_the_timeout_is_an_unknown_outcome(stub: TwilioApiStub) -> None:
    stub.respond(201, delay=10)
    sender = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url, timeout=0.2)
    try:
        with pytest.raises(SendOutcomeUnknown, match="no answer"):
            await asyncio.wait_for(sender.send(TEXT), 5)
    finally:
        await sender.close()

    assert len(stub.accepted) == 1, "the stub created the message; only its answer was late"


async def test_an_answer_lost_after_the_message_was_created_is_an_unknown_outcome(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(201, drop=True)

    with pytest.raises(SendOutcomeUnknown):
        await provider.send(TEXT)

    assert len(stub.accepted) == 1
    (found,) = await provider.find_sent(TEXT, since=NOW - timedelta(minutes=1))
    assert found.provider_id == stub.accepted[0].sid


async def test_connection_refused_is_transient_and_clear() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TransientSmsError) as caught:
            await sender.send(TEXT)
    finally:
        await sender.close()

    assert not isinstance(caught.value, SendOutcomeUnknown), "nothing can have been created"
    assert caught.value.status is None


async def test_the_same_text_twice_is_two_messages(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    first = await provider.send(TEXT)
    second = await provider.send(TEXT)

    assert second.provider_id != first.provider_id
    assert [message.sid for message in stub.accepted] == [first.provider_id, second.provider_id]


async def test_find_sent_finds_the_same_text_created_since_oldest_first(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    clock = FrozenClock(NOW)
    stub.clock = clock
    old = await provider.send(TEXT)  # an hour before the attempt looked up: not it
    clock.advance(timedelta(hours=1))
    other_body = OutgoingSms(to=TEXT.to, from_=TEXT.from_, body="Other", idempotency_key="o")
    other_to = OutgoingSms(to="+15005550009", from_=TEXT.from_, body=TEXT.body, idempotency_key="t")
    await provider.send(other_body)
    await provider.send(other_to)
    first = await provider.send(TEXT)
    clock.advance(timedelta(seconds=30))
    second = await provider.send(TEXT)

    found = await provider.find_sent(TEXT, since=clock.now - timedelta(minutes=5))

    assert [sent.provider_id for sent in found] == [first.provider_id, second.provider_id]
    assert old.provider_id not in {sent.provider_id for sent in found}
    assert {sent.status for sent in found} == {"sent"}  # the stub sent them at once
    (lookup,) = stub.lookups()
    assert lookup.query["To"] == TEXT.to
    assert lookup.query["From"] == TEXT.from_
    assert "DateSent>" not in lookup.query  # a queued message would not match it


async def test_find_sent_reads_further_pages_while_they_are_recent(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    wanted = await provider.send(TEXT)
    for number in range(LOOKUP_PAGE_SIZE * 2):  # newer texts to the same number
        await provider.send(
            OutgoingSms(TEXT.to, TEXT.from_, f"Reminder {number}", idempotency_key=f"r{number}")
        )

    (found,) = await provider.find_sent(TEXT, since=NOW - timedelta(minutes=5))

    assert found.provider_id == wanted.provider_id
    assert len(stub.lookups()) == 3


async def test_a_queued_message_matches_no_date_sent_filter(stub: TwilioApiStub) -> None:
    """Why the lookup filters on To and From only: Twilio's DateSent is set when sent."""
    stub.send_delay = None  # every message stays queued
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = stub.base_url
    client.edge = client.region = None
    sender = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url)
    async with sender:
        sent = await sender.send(TEXT)
    today = stub.accepted[0].created.date()

    def listed(**filters: object) -> list[str]:
        """The SIDs the real (blocking) twilio client lists, run off the stub's loop."""
        return [message.sid for message in client.messages.list(**filters)]

    by_number = await asyncio.to_thread(client.messages.list, to=TEXT.to, from_=TEXT.from_)
    midnight = datetime.combine(today, time(), tzinfo=UTC)

    assert [message.sid for message in by_number] == [sent.provider_id]
    assert by_number[0].status == "queued"
    assert await asyncio.to_thread(listed, to=TEXT.to, date_sent_after=midnight) == []
    stub.send_delay = 0.0  # now it counts as sent, on the day it was created
    assert await asyncio.to_thread(listed, date_sent=midnight) == [sent.provider_id]
    assert await asyncio.to_thread(listed, date_sent_after=midnight) == [sent.provider_id]
    day_before = midnight - timedelta(days=1)
    assert await asyncio.to_thread(listed, date_sent_before=day_before) == []
    assert await asyncio.to_thread(listed, date_sent_after=midnight + timedelta(days=1)) == []


async def test_close_closes_the_http_session(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    await provider.send(TEXT)
    assert stub.open_connections == 1  # kept alive by the provider's session

    await provider.close()
    for _ in range(100):
        if stub.open_connections == 0:
            break
        await asyncio.sleep(0.01)

    assert provider.closed
    assert stub.open_connections == 0
    with pytest.raises(RuntimeError, match="closed"):
        await provider.send(TEXT)
    await provider.close()  # closing twice is harmless


def test_is_an_sms_provider() -> None:
    provider: SmsProvider = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN)
    assert isinstance(provider, TwilioSmsProvider)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"account_sid": "", "auth_token": AUTH_TOKEN}, "account SID"),
        ({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "timeout": 0}, "timeout"),
        (
            {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base_url": "localhost"},
            "api_base_url",
        ),
    ],
)
def test_bad_settings_fail_in_the_constructor(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TwilioSmsProvider(**kwargs)  # type: ignore[arg-type]


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "2"}, now=NOW) == 2.0
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=NOW) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}, now=NOW) is None
    assert parse_retry_after({}, now=NOW) is None


def test_error_tree() -> None:
    assert issubclass(SendOutcomeUnknown, TransientSmsError)
    assert not issubclass(CredentialsRefused, TransientSmsError | PermanentSmsError)
    assert issubclass(RecipientOptedOut, PermanentSmsError)
    assert issubclass(PermanentSmsError, SmsError)
    assert issubclass(TransientSmsError, SmsError)
    assert not issubclass(PermanentSmsError, TransientSmsError)
