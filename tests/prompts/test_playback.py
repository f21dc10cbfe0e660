"""Server-spoken ``say`` steps never hold up a caller: their speech is made when the workflow
is installed or published and when the server starts; a call that comes before it is ready
hears Twilio's <Say> of the same text, and later calls the server's audio."""

from __future__ import annotations

import re
import time

import aiohttp

from prompts.routes import PROMPT_SERVICE
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.conftest import RunningServer, ServerFactory, eventually, signed_post, workflow
from tests.prompts.fakes import ToneSynthesizer

TEXT = "Welcome to Acme."
SPOKEN_LINE = """\
id: spoken-line
trigger: {event: call.incoming, to: "+15005550005"}
start: hello
steps:
  hello: {say: {text: "Welcome to Acme.", language: en-US, voice: alice, render: server}}
"""
TEXTED_LINE = """\
id: texted-line
trigger: {event: sms.received}
start: hello
steps:
  hello: {say: {text: "Thanks for your text.", render: server}}
"""
PLAYED = re.compile(r"<Play>https://ivr\.example\.com/media/prompts/[0-9a-f]{32}\.wav</Play>")


def incoming(sid: str) -> dict[str, str]:
    return {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15551230000",
        "To": "+15005550005",
        "CallStatus": "ringing",
    }


async def spoken_ready(server: RunningServer, text: str, language: str) -> bool:
    """Whether the prompt store has the server's audio of ``text``."""
    service = server.app[PROMPT_SERVICE]
    return await service.spoken_if_made(text, language) is not None


async def test_a_call_never_waits_for_slow_speech(servers: ServerFactory) -> None:
    slow = ToneSynthesizer(delay=20.0)
    server = await servers.start([workflow(SPOKEN_LINE)], speech=slow)
    deadline = server.settings.voice_deadline_seconds

    # Installed at start: its speech is under way before any call.
    await eventually(lambda: slow.calls == [TEXT], what="speech synthesised at start")
    started = time.monotonic()
    first = await signed_post(server, "/twilio/voice", incoming("CA" + "1" * 32))
    answered_in = time.monotonic() - started

    assert first.status == 200
    assert answered_in < deadline
    assert '<Say language="en-US" voice="alice">Welcome to Acme.</Say>' in first.text
    assert "<Play>" not in first.text
    assert slow.calls == [TEXT]  # the turn did not start a synthesis of its own

    slow.release()
    await eventually(lambda: spoken_ready(server, TEXT, "en-US"), what="speech ready")
    later = await signed_post(server, "/twilio/voice", incoming("CA" + "2" * 32))
    assert PLAYED.search(later.text), later.text
    assert "<Say" not in later.text
    assert slow.calls == [TEXT]


async def test_speech_of_a_published_workflow_is_made_before_the_first_call(
    servers: ServerFactory,
) -> None:
    voice = ToneSynthesizer()
    server = await servers.start(speech=voice, admin_token=ADMIN_TOKEN)
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        for flow in (SPOKEN_LINE, TEXTED_LINE):
            published = await api.call(
                "POST",
                "/workflows",
                data=flow,
                content_type="application/yaml",
                params={"publish": "true"},
            )
            assert published.status == 201, published.text

        await eventually(lambda: spoken_ready(server, TEXT, "en-US"), what="speech ready")
        names = [prompt["name"] for prompt in (await api.call("GET", "/prompts")).json]
    assert voice.calls == [TEXT]  # the texted workflow's say is texted, not spoken
    assert len(names) == 1
    assert names[0].startswith("say:")
    call = await signed_post(server, "/twilio/voice", incoming("CA" + "3" * 32))
    assert PLAYED.search(call.text), call.text
