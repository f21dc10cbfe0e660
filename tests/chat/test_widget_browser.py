"""The chat widget in a real browser (Chromium through Playwright) on the demo page ``/chat``:
a visitor taps an answer button and gets the answer, an agent's reply through the admin API
appears live while a note never does, a reload shows the whole conversation, and a dropped
connection comes back with what was missed, once. ``docs/chat-widget.png`` is taken here, so
the picture in the docs is what the widget looks like."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.chat.test_socket import conversation_of
from tests.conftest import RunningServer, ServerFactory

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    factory = ServerFactory(f"sqlite:///{tmp_path / 'ringflow.db'}", tmp_path)
    try:
        yield await factory.start(admin_token=ADMIN_TOKEN)
    finally:
        await factory.stop()


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)


async def opened(page: Page, server: RunningServer) -> None:
    await page.goto(server.base_url + "/chat")
    await expect(page.locator(".rf-chat")).to_have_attribute("data-connection", "online")
    await expect(page.get_by_role("button", name="Opening hours")).to_be_visible()


async def visitor_of(page: Page) -> str:
    stored = await page.evaluate("localStorage.getItem('ringflow.chat.visitor')")
    visitor: str = json.loads(stored)
    return visitor


async def texts(page: Page) -> list[str]:
    found: list[str] = await page.locator(".rf-log .rf-msg .rf-bubble").all_inner_texts()
    return found


async def test_a_visitor_taps_an_answer_and_gets_it(page: Page, server: RunningServer) -> None:
    await opened(page, server)
    await page.get_by_role("button", name="Opening hours").click()
    await expect(page.locator(".rf-bot .rf-bubble").last).to_contain_text("We are open 9 to 6")
    await expect(page.locator(".rf-visitor .rf-bubble")).to_have_text(["Opening hours"])
    # The answer buttons of the earlier question are gone; the new question has its own.
    await expect(page.get_by_role("button", name="Opening hours")).to_have_count(0)
    await expect(page.get_by_role("button", name="No, thanks")).to_be_visible()
    # Typing an answer works as well as tapping one.
    await page.get_by_label("Message").fill("Yes, something else")
    await page.get_by_label("Message").press("Enter")
    await expect(page.get_by_role("button", name="Our address")).to_be_visible()
    await page.get_by_role("button", name="Our address").click()
    await expect(page.locator(".rf-bot .rf-bubble").last).to_contain_text("1 Example Street")
    await page.locator(".rf-panel").screenshot(path=str(DOCS / "chat-widget.png"))


async def test_an_agent_reply_appears_live_and_a_note_never(
    page: Page, server: RunningServer, api: ApiClient
) -> None:
    await opened(page, server)
    await page.get_by_role("button", name="Talk to a person").click()
    await expect(page.locator(".rf-bot .rf-bubble").last).to_contain_text("answer here shortly")
    conversation = await conversation_of(api, await visitor_of(page))
    path = f"/conversations/{conversation}"
    assert (
        await api.call("POST", path + "/notes", json_body={"body": "Secret note"})
    ).status == 201
    reply = await api.call("POST", path + "/replies", json_body={"body": "Hello, Alice here."})
    assert reply.status == 201
    await expect(page.locator(".rf-agent .rf-bubble")).to_have_text(["Hello, Alice here."])
    assert "Secret note" not in await page.locator(".rf-log").inner_text()

    # A reload shows the whole conversation, in order, and nothing twice.
    before = await texts(page)
    await page.reload()
    await expect(page.locator(".rf-agent .rf-bubble")).to_have_text(["Hello, Alice here."])
    assert await texts(page) == before


async def test_a_dropped_connection_gets_the_missed_messages_once(
    page: Page, server: RunningServer, api: ApiClient
) -> None:
    await opened(page, server)
    conversation = await conversation_of(api, await visitor_of(page))
    widget = page.locator(".rf-chat")
    # Drop the socket as a network cut would, the next attempt a few seconds away.
    await page.evaluate("RingflowChat.state.delay = 4000; RingflowChat.drop()")
    await expect(widget).to_have_attribute("data-connection", "offline")
    body = {"body": "Sent while you were offline."}
    assert (
        await api.call("POST", f"/conversations/{conversation}/replies", json_body=body)
    ).status == 201
    await expect(widget).to_have_attribute("data-connection", "online", timeout=10_000)
    missed = page.locator(".rf-agent .rf-bubble", has_text="Sent while you were offline.")
    await expect(missed).to_have_count(1)
    # Whatever arrives next also arrives once.
    body = {"body": "And this one live."}
    assert (
        await api.call("POST", f"/conversations/{conversation}/replies", json_body=body)
    ).status == 201
    await expect(page.locator(".rf-agent .rf-bubble")).to_have_text(
        ["Sent while you were offline.", "And this one live."]
    )
    # A message typed while offline waits in the outbox and is sent once on reconnect.
    await page.evaluate("RingflowChat.state.delay = 3000; RingflowChat.drop()")
    await expect(widget).to_have_attribute("data-connection", "offline")
    await page.get_by_label("Message").fill("typed offline")
    await page.get_by_label("Message").press("Enter")
    await expect(widget).to_have_attribute("data-connection", "online", timeout=10_000)
    await expect(page.locator(".rf-visitor:not(.rf-pending) .rf-bubble")).to_have_text(
        ["typed offline"]
    )
    assert await server.count("chat_messages") == 5
