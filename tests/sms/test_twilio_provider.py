"""TwilioSmsProvider against TwilioApiStub over a real loopback socket."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from sms.errors import PermanentSmsError, RecipientOptedOut, SmsError, TransientSmsError
from sms.provider import OutgoingSms, SentSms, SmsProvider
from sms.twilio_provider import TwilioSmsProvider, parse_retry_after
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


async def test_request_carries_auth_form_and_idempotency_header(
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
    assert request.headers["I-Twilio-Idempotency-Token"] == TEXT.idempotency_key
    assert request.idempotency_token == TEXT.idempotency_key


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


async def test_wrong_credentials_are_retried_not_failed(stub: TwilioApiStub) -> None:
    async with TwilioSmsProvider(ACCOUNT_SID, "wrong", api_base_url=stub.base_url) as sender:
        with pytest.raises(TransientSmsError) as caught:
            await sender.send(TEXT)

    assert caught.value.status == 401
    assert "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in str(caught.value)


async def test_429_is_transient_with_retry_after(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(429, retry_after=2)

    with pytest.raises(TransientSmsError) as caught:
        await provider.send(TEXT)

    assert caught.value.status == 429
    assert caught.value.retry_after == 2.0


async def test_500_is_transient_without_retry_after(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    stub.respond(500)

    with pytest.raises(TransientSmsError) as caught:
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


async def test_timeout_is_transient(stub: TwilioApiStub) -> None:
    stub.respond(201, delay=10)
    sender = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url, timeout=0.2)
    try:
        with pytest.raises(TransientSmsError, match="no answer"):
            await asyncio.wait_for(sender.send(TEXT), 5)
    finally:
        await sender.close()


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TransientSmsError) as caught:
            await sender.send(TEXT)
    finally:
        await sender.close()

    assert caught.value.status is None


async def test_same_idempotency_key_twice_is_one_message(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    first = await provider.send(TEXT)
    second = await provider.send(TEXT)
    other = await provider.send(
        OutgoingSms(to=TEXT.to, from_=TEXT.from_, body=TEXT.body, idempotency_key="other")
    )

    assert second == first
    assert other.provider_id != first.provider_id
    assert len(stub.requests) == 3
    assert [message.idempotency_token for message in stub.accepted] == [
        TEXT.idempotency_key,
        "other",
    ]


async def test_concurrent_sends_keep_their_own_keys(
    stub: TwilioApiStub, provider: TwilioSmsProvider
) -> None:
    keys = [f"key-{n}" for n in range(5)]
    texts = [
        OutgoingSms(to=TEXT.to, from_=TEXT.from_, body=key, idempotency_key=key) for key in keys
    ]

    await asyncio.gather(*(provider.send(text) for text in texts))

    assert sorted((r.form["Body"], r.idempotency_token) for r in stub.requests) == [
        (key, key) for key in keys
    ]


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
    assert issubclass(RecipientOptedOut, PermanentSmsError)
    assert issubclass(PermanentSmsError, SmsError)
    assert issubclass(TransientSmsError, SmsError)
    assert not issubclass(PermanentSmsError, TransientSmsError)
