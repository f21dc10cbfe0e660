"""Typing indicators in real browsers (Chromium through Playwright), SQLite and PostgreSQL: a
visitor on the demo page ``/chat`` and the agent alice in the inbox, in two browser contexts.
What the visitor types shows "Visitor is typing…" in the agent's open conversation, gone when
the message arrives or a few seconds after the typing stops; what the agent types as a reply
shows "Alice is typing…" in the widget, likewise; an internal note being typed shows the
visitor nothing, ever."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from chat.typing import SHOWN_S
from tests.chat.test_socket import conversation_of
from tests.chat.test_widget_browser import visitor_of
from tests.ringflow.admin.people import Desk
from tests.ringflow.inbox.conftest import desk
from tests.ringflow.inbox.test_inbox_page import _signed_in

__all__ = ["desk"]

GONE_WITHIN_MS = int(SHOWN_S * 1000) + 4_000
"""The indicator expires after SHOWN_S; a busy machine gets a few seconds more."""


async def _visitor(browser: Browser, desk: Desk) -> Page:
    """A visitor with the widget open on the demo page, greeted."""
    context = await browser.new_context(base_url=desk.api.server.base_url)
    page = await context.new_page()
    await page.goto("/chat")
    await expect(page.locator(".rf-chat")).to_have_attribute("data-connection", "online")
    await expect(page.get_by_role("button", name="Talk to a person")).to_be_visible()
    return page


async def _both(browser: Browser, desk: Desk) -> tuple[Page, Page]:
    """The visitor, and alice's inbox with the visitor's conversation open."""
    visitor = await _visitor(browser, desk)
    visitor_id = await visitor_of(visitor)
    await conversation_of(desk.api, visitor_id)
    agent = await _signed_in(browser, desk, "alice")
    await agent.keyboard.press("4")  # all
    await agent.locator("#list li", has_text="chat:" + visitor_id.split(".")[0]).click()
    await expect(agent.locator("#v-meta")).to_contain_text("chat")
    return visitor, agent


async def test_each_side_sees_the_other_typing(desk: Desk, browser: Browser) -> None:
    visitor, agent = await _both(browser, desk)
    typing_in_inbox = agent.locator("#typing")
    typing_in_widget = visitor.locator(".rf-typing")
    assert await typing_in_inbox.get_attribute("aria-live") == "polite"
    assert await typing_in_widget.get_attribute("aria-live") == "polite"
    message = visitor.get_by_label("Message")

    # The visitor types: the agent sees it; it goes when the message arrives.
    await message.press_sequentially("Where is my order", delay=30)
    await expect(typing_in_inbox).to_have_text("Visitor is typing…")
    await message.press("Enter")
    await expect(agent.locator("#timeline .msg.customer").last).to_contain_text("Where is my order")
    await expect(typing_in_inbox).to_have_text("")
    # Typing that stops: it goes by itself a few seconds later.
    await message.press_sequentially("and also", delay=30)
    await expect(typing_in_inbox).to_have_text("Visitor is typing…")
    await expect(typing_in_inbox).to_have_text("", timeout=GONE_WITHIN_MS)

    # The agent types a reply: the visitor sees who; it goes when the reply arrives.
    await agent.keyboard.press("r")
    await agent.locator("#body").press_sequentially("Let me check", delay=30)
    await expect(typing_in_widget).to_have_text("Alice is typing…")
    await agent.keyboard.press("Control+Enter")
    await expect(visitor.locator(".rf-agent .rf-bubble")).to_have_text(["Let me check"])
    await expect(typing_in_widget).to_have_text("")
    # A reply left unsent: gone a few seconds after the typing stops.
    await agent.locator("#body").press_sequentially("Found it", delay=30)
    await expect(typing_in_widget).to_have_text("Alice is typing…")
    await expect(typing_in_widget).to_have_text("", timeout=GONE_WITHIN_MS)
    await visitor.context.close()
    await agent.context.close()


async def test_a_note_being_typed_shows_the_visitor_nothing(desk: Desk, browser: Browser) -> None:
    visitor, agent = await _both(browser, desk)
    # Everything the widget's indicator ever says, even for a moment.
    await visitor.evaluate(
        """() => {
          const region = document.querySelector('.rf-typing');
          window.typingSaid = [];
          new MutationObserver(() => window.typingSaid.push(region.textContent))
            .observe(region, {childList: true, characterData: true, subtree: true});
        }"""
    )
    await agent.keyboard.press("n")
    # Longer than several throttle windows: a page that signalled would have by now.
    await agent.locator("#body").press_sequentially(
        "Customer is a VIP, offer the refund", delay=120
    )
    await agent.keyboard.press("Control+Enter")
    await expect(agent.locator("#timeline .note")).to_contain_text("offer the refund")
    await agent.wait_for_timeout(1_000)  # time for a signal to have crossed, were there one
    assert await visitor.evaluate("window.typingSaid") == []
    assert "VIP" not in await visitor.locator(".rf-log").inner_text()

    # The same page typing a reply does show it: the silence above was the note's.
    await agent.keyboard.press("Escape")
    await agent.keyboard.press("r")
    await agent.locator("#body").press_sequentially("Good news", delay=30)
    await expect(visitor.locator(".rf-typing")).to_have_text("Alice is typing…")
    await visitor.context.close()
    await agent.context.close()
