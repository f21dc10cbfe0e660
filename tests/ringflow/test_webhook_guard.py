"""Every Twilio webhook is a small urlencoded form that arrives at once: a multipart body is a
415, an over-long field a 400 naming it, a body that trickles in a 408; never a 500, and
nothing is stored."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN, PUBLIC_URL, RunningServer, ServerFactory, signed_post

RUN = "0123456789abcdef0123456789abcdef"
WEBHOOKS = [
    "/twilio/voice",
    "/twilio/voice/status",
    f"/twilio/voice/runs/{RUN}/1/gather",
    "/twilio/sms",
    "/twilio/sms/status",
]
TABLES = ("calls", "runs", "messages", "jobs", "contacts", "opt_outs")


def call_form(**fields: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550006",
        "To": "+15005550001",
        "CallStatus": "ringing",
        **fields,
    }


def text_form(**fields: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550006",
        "To": "+15005550001",
        "Body": "hello",
        **fields,
    }


async def nothing_stored(server: RunningServer) -> None:
    for table in TABLES:
        assert await server.count(table) == 0, table


@pytest.fixture
async def server(servers: ServerFactory) -> RunningServer:
    return await servers.start(worker=False)


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_multipart_webhook_is_a_415(server: RunningServer, path: str) -> None:
    form = aiohttp.FormData()
    for name, value in text_form(**call_form()).items():
        form.add_field(name, value)
    form.add_field("Media", b"\x00" * 100, filename="photo.jpg", content_type="image/jpeg")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, {})
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.base_url + path, data=form, headers={"X-Twilio-Signature": signature}
        ) as response,
    ):
        assert response.status == 415
        assert "application/x-www-form-urlencoded" in await response.text()
    await nothing_stored(server)


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("/twilio/voice", call_form(CallSid="CA" + "1" * 63), "CallSid"),
        ("/twilio/voice", call_form(From="+1" + "5" * 63), "From"),
        ("/twilio/voice", call_form(To="sip:" + "a" * 61), "To"),
        ("/twilio/voice/status", call_form(CallSid="CA" + "1" * 63), "CallSid"),
        ("/twilio/sms", text_form(MessageSid="SM" + "1" * 63), "MessageSid"),
        ("/twilio/sms", text_form(Body="a" * 1601), "Body"),
        ("/twilio/sms", text_form(From="+1" + "5" * 63), "From"),
        ("/twilio/sms/status", text_form(MessageSid="SM" + "1" * 63), "MessageSid"),
    ],
)
async def test_an_over_long_field_is_a_400_naming_it(
    server: RunningServer, path: str, form: dict[str, str], field: str
) -> None:
    reply = await signed_post(server, path, form)
    assert reply.status == 400
    assert field in reply.text
    await nothing_stored(server)


async def test_a_field_at_its_cap_is_fine(server: RunningServer) -> None:
    reply = await signed_post(server, "/twilio/sms", text_form(Body="a" * 1600))
    assert reply.status == 200
    assert await server.count("messages") == 1


async def test_a_repeated_field_is_capped_in_every_value(server: RunningServer) -> None:
    body = "Body=short&Body=" + "a" * 1601 + "&MessageSid=SM1&From=%2B15005550006&To=%2B1500"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.base_url + "/twilio/sms",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response,
    ):
        assert response.status == 400
        assert "Body" in await response.text()
    await nothing_stored(server)


async def test_a_form_that_is_not_utf8_is_a_400(server: RunningServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.base_url + "/twilio/sms",
            data=b"Body=\xff\xfe&MessageSid=SM1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response,
    ):
        assert response.status == 400
    await nothing_stored(server)


async def test_a_body_that_trickles_in_is_cut_off_with_a_408(servers: ServerFactory) -> None:
    server = await servers.start(worker=False, webhook_body_seconds=0.5)
    address = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    body_length = 200
    writer.write(
        b"POST /twilio/sms HTTP/1.1\r\n"
        b"Host: ivr.example.com\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\nBody=" % body_length
    )
    await writer.drain()

    async def trickle() -> None:
        # The whole body would take 20 s: one byte every 0.1 s.
        with contextlib.suppress(ConnectionError):
            for _ in range(body_length - 5):
                await asyncio.sleep(0.1)
                writer.write(b"a")
                await writer.drain()

    trickling = asyncio.create_task(trickle())
    try:
        # The answer comes long before the body would have been complete.
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        assert status_line.startswith(b"HTTP/1.1 408")
        headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert b"Connection: close" in headers
    finally:
        trickling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trickling
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    await nothing_stored(server)


async def test_the_admin_api_and_other_routes_are_not_guarded(server: RunningServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.base_url + "/twilio/nowhere", data=b"{}") as missing,
    ):
        assert missing.status == 404
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.base_url + "/healthz") as health,
    ):
        assert health.status == 200
