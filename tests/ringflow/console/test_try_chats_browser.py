"""The console's "Try it" for a chat workflow, in a real browser (Chromium through
Playwright): an admin opens a test chat with the demo chat, is greeted with answer buttons,
taps "Opening hours" and then "Talk to a person", reads the answers and the priority change,
sees the steps lit on the diagram, and finds nothing in the inbox: nothing was kept. Writes
``docs/console-try-chats.png``."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.api_client import ApiClient
from tests.ringflow.console.test_console_browser import ROOT, signed_in
from tests.ringflow.console.test_try_it_browser import CURRENT, VISITED, step_node

pytestmark = pytest.mark.usefixtures("patient_expectations")


async def test_an_admin_chats_with_the_demo_and_nothing_is_kept(
    browser: Browser, api: ApiClient
) -> None:
    page = await signed_in(browser, api)
    demo = page.locator("#workflows button", has_text="demo-chat")
    await expect(demo).to_contain_text("chat.started")
    await demo.click()
    # A chat workflow is tried by chatting with it, as a visitor: no call, no number.
    await expect(page.get_by_role("button", name="Place a test call")).to_be_hidden()
    await expect(page.locator("#try-from")).to_be_hidden()
    await page.get_by_role("button", name="Open a test chat").click()

    thread = page.locator("#try-thread")
    greeting = thread.locator(".from-workflow").first
    await expect(greeting).to_contain_text("Hi! Welcome to Acme.")
    await expect(greeting.get_by_role("button")).to_have_text(
        ["Opening hours", "Our address", "Talk to a person"]
    )
    await expect(page.locator("#try-state")).to_have_text(
        "Greeting: workflow demo-chat: started. At step main (waiting)"
    )
    await expect(step_node(page, "main")).to_have_class(CURRENT)

    await greeting.get_by_role("button", name="Opening hours").click()
    await expect(thread.locator(".from-contact")).to_have_text(["Opening hours"])
    answer = thread.locator(".from-workflow").last
    await expect(answer).to_contain_text("We are open 9 to 6")
    # Only the latest question's answers can still be tapped.
    await expect(greeting.get_by_role("button", name="Our address")).to_be_disabled()
    await expect(page.locator("#try-state")).to_contain_text(
        "Your message: answers step main of workflow demo-chat"
    )

    await answer.get_by_role("button", name="Talk to a person").click()
    await expect(thread.locator(".from-workflow").last).to_have_text(
        "Thanks! A person from our team will answer here shortly."
    )
    await expect(thread.locator(".event", has_text="priority")).to_contain_text("high")
    await expect(step_node(page, "handover")).to_have_class(CURRENT)
    for step in ("welcome", "main", "hours", "anything_else", "person"):
        await expect(step_node(page, step)).to_have_class(VISITED)

    # Words typed are taken as the visitor's message.
    await page.get_by_label("Write", exact=True).fill("Are you there?")
    await page.get_by_label("Write", exact=True).press("Enter")
    await expect(thread.locator(".from-contact").last).to_have_text("Are you there?")
    await expect(page.locator("#try-state")).to_contain_text(
        "Your message: no run waits for it: it waits for a person"
    )
    await page.screenshot(path=str(ROOT / "docs" / "console-try-chats.png"), full_page=True)

    # Nothing was kept: no conversation in the inbox.
    assert (await api.call("GET", "/conversations")).json["items"] == []
