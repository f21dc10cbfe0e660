"""The inbox in a real browser (Chromium through Playwright): an agent signs in with its token,
sees a conversation that a real inbound SMS webhook started appear without reloading, opens it,
replies (the reply is the durable SMS job), writes a note (shown as a note, never sent),
assigns, sets the priority and a tag, snoozes, closes; another agent's reply appears live; the
keyboard drives it; a phone-size screen shows one pane at a time. One test writes
``docs/inbox.png``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Route, expect
from sqlalchemy import select

from sms.send_job import SEND_SMS
from tests.ringflow.admin.people import CONTACT, Desk
from workflows.jobs.db import jobs

ROOT = Path(__file__).resolve().parents[3]
OTHER = "+14155550199"


async def _signed_in(browser: Browser, desk: Desk, name: str, **options: Any) -> Page:
    """A browser context signed in as the new agent ``name`` through the sign-in form."""
    await desk.agent(name, display_name=name.title())
    token = await desk.agent_token(name)
    context: BrowserContext = await browser.new_context(
        base_url=desk.api.server.base_url, **options
    )
    page = await context.new_page()
    await page.goto("/inbox")
    await expect(page).to_have_url(desk.api.server.base_url + "/inbox/sign-in")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(desk.api.server.base_url + "/inbox")
    await expect(page.locator("#me")).to_have_text(name.title())
    await expect(page.locator("#live")).to_have_class("live on")
    return page


async def _sent_jobs(desk: Desk) -> list[Any]:
    query = select(jobs.c.payload).where(jobs.c.kind == SEND_SMS)
    return list(await desk.api.server.db.read(lambda conn: conn.execute(query).scalars().all()))


async def test_an_agent_works_a_conversation_from_a_real_text_live(
    desk: Desk, browser: Browser
) -> None:
    page = await _signed_in(browser, desk, "alice")
    context = page.context
    cookies = {c["name"]: c for c in await context.cookies()}
    cookie = cookies["__Host-ringflow_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is True
    # The page's script cannot read the session cookie.
    assert await page.evaluate("document.cookie") == ""

    await page.keyboard.press("2")  # unassigned
    await expect(page.locator("[data-view=unassigned]")).to_have_attribute("aria-pressed", "true")
    await page.evaluate("window.notReloaded = true")

    await desk.text_in("Where is my parcel?", "SM" + "1" * 32)
    item = page.locator("#list li", has_text=CONTACT)
    await expect(item).to_be_visible()  # live: no reload
    assert await page.evaluate("window.notReloaded") is True

    await item.click()
    timeline = page.locator("#timeline")
    await expect(timeline.locator(".msg.customer")).to_contain_text("Where is my parcel?")
    conversation_id = int(page.url.rsplit("#", 1)[1])

    # A reply: a durable send job, then an outbound text in the timeline.
    await page.keyboard.press("r")
    await page.fill("#body", "On its way, arriving Tuesday.")
    await page.keyboard.press("Control+Enter")
    reply = timeline.locator(".msg.agent", has_text="On its way")
    await expect(reply).to_be_visible()
    await expect(reply.locator(".who")).to_have_text("alice")
    sent = await _sent_jobs(desk)
    assert len(sent) == 1
    detail = await desk.detail(conversation_id)
    replies = [e for e in detail["timeline"] if e["kind"] == "agent.replied"]
    assert replies[0]["message"]["body"] == "On its way, arriving Tuesday."
    assert replies[0]["message"]["to"] == CONTACT
    await expect(reply.locator(".delivery")).to_have_text("sent")  # delivery, live

    # A note: shown as a note, in its own colour, and never sent.
    await page.keyboard.press("Escape")  # out of the text box: keys are shortcuts again
    await page.keyboard.press("n")
    await page.fill("#body", "Customer called twice already")
    await page.keyboard.press("Control+Enter")
    note = timeline.locator(".note", has_text="Customer called twice already")
    await expect(note).to_be_visible()
    note_colour = await note.evaluate("e => getComputedStyle(e).backgroundColor")
    reply_colour = await reply.evaluate("e => getComputedStyle(e).backgroundColor")
    assert note_colour != reply_colour
    assert len(await _sent_jobs(desk)) == 1
    detail = await desk.detail(conversation_id)
    bodies = [(e.get("message") or {}).get("body") for e in detail["timeline"]]
    assert "Customer called twice already" not in bodies

    # Assign to me (keyboard), priority, a tag.
    await page.keyboard.press("Escape")
    await page.keyboard.press("a")
    await expect(page.locator("#v-meta")).to_contain_text("alice")
    await expect(page.locator("#list li", has_text=CONTACT)).to_have_count(0)  # not unassigned
    await page.keyboard.press("1")  # mine
    await expect(page.locator("#list li", has_text=CONTACT)).to_be_visible()
    await page.select_option("#a-priority", "high")
    await expect(page.locator("#list li", has_text=CONTACT).locator(".p-high")).to_be_visible()
    await page.fill("#tag-input", "delivery")
    await page.press("#tag-input", "Enter")
    await expect(page.locator("#v-tags")).to_contain_text("delivery")

    # Another agent's reply appears in the open conversation without a reload.
    await desk.agent("bob")
    bob = await desk.agent_token("bob")
    await desk.act(conversation_id, "replies", {"body": "Bob here, I checked too."}, token=bob)
    await expect(timeline.locator(".msg.agent", has_text="Bob here")).to_be_visible()
    assert await page.evaluate("window.notReloaded") is True

    # Snooze, then close.
    await page.select_option("#a-snooze", "1h")
    await expect(page.locator("#v-meta")).to_contain_text("snoozed until")
    await page.click("#a-reopen")
    await expect(page.locator("#v-meta")).to_contain_text("open")
    await page.keyboard.press("c")
    await expect(page.locator("#v-meta")).to_contain_text("closed")

    final = await desk.detail(conversation_id)
    assert final["status"] == "closed"
    assert final["priority"] == "high"
    assert final["tags"] == ["delivery"]
    assert final["assignee"]["agent"] == "alice"
    kinds = [e["kind"] for e in final["timeline"]]
    for kind in ("note", "assigned", "priority", "tagged", "snoozed", "reopened", "closed"):
        assert kind in kinds
    assert [e["actor"]["name"] for e in final["timeline"] if e["kind"] == "closed"] == ["alice"]

    # Status: away.
    await page.select_option("#presence", "away")
    await expect(page.locator("#status")).to_have_text("You are away")
    assert (await desk.api.call("GET", "/agents/alice")).json["status"] == "away"
    await context.close()


async def test_the_keyboard_moves_through_the_list_and_the_help_lists_the_keys(
    desk: Desk, browser: Browser
) -> None:
    await desk.text_in("First", "SM" + "2" * 32)
    await desk.text_in("Second", "SM" + "3" * 32, sender=OTHER)
    await desk.conversation_of(OTHER)
    page = await _signed_in(browser, desk, "alice")
    await page.keyboard.press("4")  # all
    await expect(page.locator("#list li")).to_have_count(2)
    await expect(page.locator("#list li").first).to_have_class("item selected unanswered")
    await page.keyboard.press("j")
    await page.keyboard.press("Enter")
    await expect(page.locator("#v-contact")).to_have_text(CONTACT)  # the older one, second
    await page.keyboard.press("Escape")
    await expect(page.locator("#view")).to_be_hidden()
    await page.keyboard.press("?")
    help_box = page.locator("#help")
    await expect(help_box).to_be_visible()
    await expect(help_box).to_contain_text("assign to me")
    await page.context.close()


async def test_on_a_phone_one_pane_shows_at_a_time(desk: Desk, browser: Browser) -> None:
    await desk.text_in("Hi from my phone", "SM" + "4" * 32)
    await desk.conversation_of()
    page = await _signed_in(
        browser, desk, "alice", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    await page.click("[data-view=all]")
    await page.locator("#list li", has_text=CONTACT).click()
    await expect(page.locator(".list-pane")).to_be_hidden()
    await expect(page.locator("#timeline")).to_contain_text("Hi from my phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the screen
    await page.click("#back")
    await expect(page.locator(".list-pane")).to_be_visible()
    await page.context.close()


async def test_a_screenshot_of_the_inbox_for_the_docs(desk: Desk, browser: Browser) -> None:
    """Writes docs/inbox.png: the page as an agent sees it (made by this test, so it stays
    true)."""
    if "postgresql" in desk.api.server.settings.database:
        return  # one picture is enough: the SQLite run makes it
    await desk.text_in("Hi, my order #1042 has not arrived yet", "SM" + "5" * 32)
    await desk.text_in("Can I change my delivery address?", "SM" + "6" * 32, sender=OTHER)
    first = await desk.conversation_of()
    await desk.conversation_of(OTHER)
    page = await _signed_in(browser, desk, "alice", viewport={"width": 1280, "height": 760})
    await page.click("[data-view=all]")
    await page.locator("#list li", has_text=CONTACT).click()
    await desk.act(first["id"], "priority", {"priority": "high"})
    await page.click("#a-assign")
    await page.keyboard.press("r")
    await page.fill("#body", "Sorry about that! It left our depot this morning.")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#timeline")).to_contain_text("It left our depot this morning.")
    await page.keyboard.press("Escape")
    await page.keyboard.press("n")
    await page.fill("#body", "Courier confirmed: delivery tomorrow before noon.")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#timeline .note")).to_be_visible()
    await page.fill("#tag-input", "shipping")
    await page.press("#tag-input", "Enter")
    await expect(page.locator("#v-tags")).to_contain_text("shipping")
    await page.locator("#body").blur()
    await page.screenshot(path=str(ROOT / "docs" / "inbox.png"))
    assert (ROOT / "docs" / "inbox.png").stat().st_size > 10_000
    await page.context.close()


async def test_a_note_written_while_a_reply_is_on_its_way_is_kept(
    desk: Desk, browser: Browser
) -> None:
    await desk.text_in("Where is my order?", "SM" + "7" * 32)
    page = await _signed_in(browser, desk, "alice")
    await page.click("[data-view=all]")
    await page.locator("#list li", has_text=CONTACT).click()
    on_its_way = asyncio.Event()

    async def slow_reply(route: Route) -> None:
        await on_its_way.wait()
        await route.continue_()

    await page.route("**/replies", slow_reply)
    await page.keyboard.press("r")
    await page.fill("#body", "It is on its way.")
    await page.keyboard.press("Control+Enter")
    # While the reply is still on its way, the agent starts a note.
    await page.keyboard.press("Escape")
    await page.keyboard.press("n")
    await page.fill("#body", "Check with the courier tomorrow.")
    on_its_way.set()
    await expect(page.locator("#timeline")).to_contain_text("It is on its way.")
    await expect(page.locator("#body")).to_have_value("Check with the courier tomorrow.")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#timeline .note")).to_contain_text("Check with the courier")
    await page.context.close()
