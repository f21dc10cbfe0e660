"""Recordings in the console's call log, in a real browser (Chromium through Playwright): a
call that left a voicemail shows a player whose audio (the MP3 the Twilio stub holds, fetched
by the server with the account's credentials, sent to the page with its session cookie)
plays; a test call's recording says it has no audio."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.api_client import ApiClient
from tests.conftest import ServerFactory, eventually
from tests.fakes.twilio_api import TwilioApiStub
from tests.prompts.media import tone
from tests.ringflow.admin.test_call_recordings import (
    leave_message,
    record_in_a_test_call,
    recording_path,
    start_line,
)
from tests.ringflow.console.test_console_browser import signed_in

pytestmark = pytest.mark.usefixtures("patient_expectations")


async def test_the_call_log_plays_a_calls_recording(
    browser: Browser, servers: ServerFactory, server_stub: TwilioApiStub, tmp_path: Path
) -> None:
    server = await start_line(servers, server_stub)
    async with aiohttp.ClientSession() as session:
        api = ApiClient(server, session)
        sid, recording = await leave_message(api, seconds=7)
        server_stub.add_recording(recording, tone(tmp_path, "message.mp3", 2.0).read_bytes())
        test_call = await record_in_a_test_call(api, seconds=3)
        page = await signed_in(browser, api)

    row = page.locator(f'#calls tr[data-sid="{sid}"]')
    player = row.locator("td.recordings audio")
    await expect(player).to_have_count(1)
    await expect(player).to_have_attribute("src", recording_path(sid))
    await expect(row.locator("td.recordings")).to_contain_text("7 s")
    assert server_stub.recording_fetches() == []  # preload="none": nothing until it plays

    await player.evaluate("audio => audio.play()")

    async def played() -> bool:
        heard: bool = await player.evaluate("audio => audio.played.length > 0 && !audio.error")
        return heard

    await eventually(played, within=10, what="the recording to play in the page")
    assert await player.evaluate("audio => audio.duration") == pytest.approx(2.0, abs=0.2)
    fetched = server_stub.recording_fetches()
    assert fetched
    assert {request.auth for request in fetched} == {
        (server_stub.account_sid, server_stub.auth_token)
    }

    tested = page.locator(f'#calls tr[data-sid="{test_call}"] td.recordings')
    await expect(tested).to_contain_text("recording (test call: no audio)")
    await expect(tested.locator("audio")).to_have_count(0)
