"""The console's "Try it" for a text workflow, in a real browser (Chromium through
Playwright): an admin starts a test conversation with a draft, texts "menu" and gets the
numbered menu, texts "2" and reads the answer, the tag and the internal note, sees the steps
lit on the diagram, and finds nothing in the texts list: nothing was sent or kept. Writes
``docs/console-try-texts.png``."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.api_client import ApiClient
from tests.ringflow.admin.test_test_texts import DESK
from tests.ringflow.admin.test_workflows import upload
from tests.ringflow.console.test_console_browser import ROOT, signed_in
from tests.ringflow.console.test_try_it_browser import CURRENT, VISITED, step_node

pytestmark = pytest.mark.usefixtures("patient_expectations")


async def test_an_admin_texts_a_draft_and_nothing_is_sent(browser: Browser, api: ApiClient) -> None:
    assert (await upload(api, DESK))[0] == 201
    page = await signed_in(browser, api)
    desk = page.locator("#workflows button", has_text="text-desk")
    await expect(desk).to_contain_text("sms.received to +15550002222")
    await desk.click()
    await expect(page.locator("#version")).to_have_value("draft")
    # A text workflow is tried by texting it, not by calling it.
    await expect(page.get_by_role("button", name="Place a test call")).to_be_hidden()
    await page.get_by_role("button", name="Start a test conversation").click()
    await expect(page.locator("#try-state")).to_have_text("Text as +15005550006 to +15550002222.")

    await page.get_by_label("Text", exact=True).fill("Can I see the menu?")
    await page.get_by_role("button", name="Send", exact=True).click()
    thread = page.locator("#try-thread")
    await expect(thread.locator(".from-contact")).to_have_text(["Can I see the menu?"])
    menu = thread.locator(".from-workflow").first
    await expect(menu).to_contain_text("1. Opening hours")
    await expect(menu).to_contain_text("would be sent (queued), never is in a test")
    await expect(page.locator("#try-state")).to_have_text(
        "Your text: workflow text-desk: started. At step ask (waiting)"
    )
    await expect(step_node(page, "ask")).to_have_class(CURRENT)

    await page.get_by_label("Text", exact=True).fill("2")
    await page.get_by_label("Text", exact=True).press("Enter")
    await expect(thread.locator(".from-workflow").last).to_contain_text(
        "Thanks! A person will text you back shortly."
    )
    await expect(thread.locator(".event", has_text="tagged")).to_contain_text("wants-a-person")
    await expect(thread.locator(".event", has_text="Internal note")).to_have_text(
        "Internal note: Asked for a person: 2"
    )
    await expect(step_node(page, "remember")).to_have_class(CURRENT)
    for step in ("ask", "person", "flag"):
        await expect(step_node(page, step)).to_have_class(VISITED)
    await page.screenshot(path=str(ROOT / "docs" / "console-try-texts.png"), full_page=True)

    # Nothing was sent or kept: the texts list is empty, as is the inbox.
    await page.locator("#texts-refresh").click()
    assert (await api.call("GET", "/messages")).json == []
    assert (await api.call("GET", "/conversations")).json["items"] == []
