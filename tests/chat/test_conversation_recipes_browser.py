"""The people issue's in-conversation recipes on the web chat, each installed with one admin
API call, driven by visitors in a real browser (Chromium through Playwright), agents through
the API and the server's clock moved: first-response delay (journey 7), off-hours notice (8),
follow-up when the customer goes quiet (9), auto-close (10), priority by keywords (11) and the
unanswered alert (12). The satisfaction survey (15) is in ``test_acceptance_journey.py``.

Each checks what the visitor sees live in the widget, what agents see on the conversation,
and that a timer whose condition no longer holds does nothing. The same recipes on SMS:
``tests/ringflow/admin/test_conversation_recipes.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.chat.shop import NEW_YORK, Shop, open_shop, visitor_id, write
from tests.chat.test_socket import conversation_of
from tests.clock import on_day_at
from tests.conftest import eventually, jobs_settled
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.workflows.automations.helpers import automated_replies, notes

ON_CALL = "+14155550100"
OUR_NUMBER = "+15005550006"


pytestmark = pytest.mark.usefixtures("patient_expectations")


@pytest.fixture
async def shop(tmp_path: Path, browser: Browser, server_stub: TwilioApiStub) -> AsyncIterator[Shop]:
    """A shop with no greeting (the visitor's first message opens the conversation) that
    texts through Twilio's REST fake (the on-call phone)."""
    async with open_shop(
        tmp_path,
        browser,
        [],
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    ) as running:
        yield running


def ours(page: Page) -> Locator:
    """Every message the visitor got (a workflow's or an agent's)."""
    return page.locator(".rf-msg:not(.rf-visitor) .rf-bubble")


async def advance(shop: Shop, delta: timedelta) -> None:
    """Move the server's clock and let its worker run every job now due."""
    shop.clock.advance(delta)
    await jobs_settled(shop.server)


async def conversation(shop: Shop, page: Page) -> dict[str, Any]:
    """The visitor's conversation as agents see it."""
    found = await conversation_of(shop.api, await visitor_id(page))
    detail: dict[str, Any] = await shop.admin("GET", f"/conversations/{found}")
    return detail


async def reply(shop: Shop, page: Page, body: str) -> None:
    """An agent answers the visitor's conversation (over the API), and the visitor sees it."""
    detail = await conversation(shop, page)
    await shop.admin("POST", f"/conversations/{detail['id']}/replies", {"body": body})
    await expect(ours(page).last).to_have_text(body)


async def test_a_late_first_answer_gets_the_notice_in_the_widget(shop: Shop) -> None:
    await shop.install("first-response-delay", workflow_id="late-answer", hours="office")
    late = await shop.visitor()
    await write(late, "Where is my order?")
    answered = await shop.visitor()
    await write(answered, "Do you ship abroad?")
    await advance(shop, timedelta(minutes=5))
    await reply(shop, answered, "Yes, to 30 countries.")
    await advance(shop, timedelta(minutes=9))
    await expect(ours(late)).to_have_count(0)

    await advance(shop, timedelta(minutes=2))
    notice = "Thanks for your patience! An agent will answer you shortly."
    await expect(ours(late)).to_have_text([notice])
    detail = await conversation(shop, late)
    assert automated_replies(detail) == [notice]
    assert detail["unanswered"] is True  # still waits for a person
    await advance(shop, timedelta(hours=1))
    await expect(ours(late)).to_have_text([notice])
    await expect(ours(answered)).to_have_text(["Yes, to 30 countries."])


async def test_a_message_while_closed_gets_the_next_opening_time(shop: Shop) -> None:
    await shop.install("off-hours-notice", workflow_id="closed-notice", hours="office")
    daytime = await shop.visitor()
    await write(daytime, "Open now?")  # 10:00 on a Monday: open, no notice

    lunch_break = on_day_at(shop.clock().astimezone(NEW_YORK), 0, time(12, 30))
    shop.clock.set(lunch_break)
    lunch = await shop.visitor()
    await write(lunch, "Hello, anyone?")
    await expect(ours(lunch)).to_have_count(1)
    notice = await ours(lunch).first.inner_text()
    assert notice.startswith("Thanks for your message. We're closed right now; we open ")
    assert "13:00" in notice
    assert notice.endswith("We'll answer you then.")
    await write(lunch, "Still there?")  # a second message while closed: no second notice
    await advance(shop, timedelta(seconds=1))
    await expect(ours(lunch)).to_have_count(1)
    await expect(ours(daytime)).to_have_count(0)
    assert automated_replies(await conversation(shop, lunch)) == [notice]


async def test_a_quiet_visitor_gets_one_follow_up(shop: Shop) -> None:
    await shop.install("quiet-follow-up", workflow_id="follow-up", wait_hours=24)
    quiet = await shop.visitor()
    await write(quiet, "How much is shipping?")
    chatty = await shop.visitor()
    await write(chatty, "How much is shipping to Busan?")
    await reply(shop, quiet, "Free over $50.")
    await reply(shop, chatty, "$12 to Busan.")
    await advance(shop, timedelta(hours=2))
    await write(chatty, "Thanks!")  # the customer answered: their follow-up no longer holds

    await advance(shop, timedelta(hours=22, minutes=1))
    follow_up = "Hi there, did that answer your question? Just reply here if not."
    await expect(ours(quiet)).to_have_text(["Free over $50.", follow_up])
    await advance(shop, timedelta(days=2))
    await expect(ours(quiet)).to_have_count(2)
    await expect(ours(chatty)).to_have_text(["$12 to Busan."])
    assert automated_replies(await conversation(shop, quiet)) == [follow_up]


async def test_a_silent_conversation_is_closed_with_a_goodbye(shop: Shop) -> None:
    await shop.install("auto-close", workflow_id="auto-close", days=3)
    silent = await shop.visitor()
    await write(silent, "Can I return this?")
    busy = await shop.visitor()
    await write(busy, "Can I exchange this?")
    await reply(shop, silent, "Yes, within 30 days.")
    await reply(shop, busy, "Yes, any size.")
    await advance(shop, timedelta(days=2))
    await write(busy, "Which size do you have?")

    await advance(shop, timedelta(days=1, minutes=1))
    goodbye = "We're closing this conversation for now. Write to us any time to pick it up again."
    await expect(ours(silent)).to_have_text(["Yes, within 30 days.", goodbye])
    closed = await conversation(shop, silent)
    assert closed["status"] == "closed"
    assert notes(closed) == [
        "Closed automatically after 3 days without an answer from the customer."
    ]
    still = await conversation(shop, busy)
    assert still["status"] == "open"
    await expect(ours(busy)).to_have_text(["Yes, any size."])

    # Writing again picks the conversation up: the same one, open again.
    await write(silent, "Actually, one more question")
    reopened = await conversation(shop, silent)
    assert (reopened["id"], reopened["status"]) == (closed["id"], "open")


async def test_keywords_raise_the_priority_without_a_word_to_the_visitor(shop: Shop) -> None:
    await shop.install("priority-keywords", workflow_id="priority")
    error = await shop.visitor()
    await write(error, "앱에 오류가 있어요")
    cancel = await shop.visitor()
    await write(cancel, "구독 해지 하고 싶어요")
    plain = await shop.visitor()
    await write(plain, "What time do you open?")

    async def raised() -> bool:
        details = [await conversation(shop, page) for page in (error, cancel)]
        return all(d["priority"] == "urgent" and d["tags"] == ["keyword"] for d in details)

    await eventually(raised, what="both conversations urgent and tagged")
    await advance(shop, timedelta(seconds=1))
    after = await conversation(shop, plain)
    assert (after["priority"], after["tags"]) == ("normal", [])
    urgent = await shop.admin("GET", "/conversations?priority=urgent")
    expected = [(await conversation(shop, page))["id"] for page in (error, cancel)]
    assert sorted(c["id"] for c in urgent["items"]) == sorted(expected)
    for page in (error, cancel, plain):
        await expect(ours(page)).to_have_count(0)


async def test_an_unanswered_visitor_alerts_the_on_call_phone(
    shop: Shop, server_stub: TwilioApiStub
) -> None:
    await shop.install(
        "unanswered-alert",
        workflow_id="unanswered",
        minutes=30,
        on_call=ON_CALL,
        alert_from=OUR_NUMBER,  # a chat conversation has no number of ours to text from
        hours="office",
    )
    waiting = await shop.visitor()
    await write(waiting, "My card was charged twice")
    answered = await shop.visitor()
    await write(answered, "Is the store open?")
    await advance(shop, timedelta(minutes=10))
    await reply(shop, answered, "Yes, until 17:00.")
    await advance(shop, timedelta(minutes=21))

    await eventually(lambda: bool(server_stub.accepted), what="the on-call alert")
    [alert] = server_stub.accepted
    address = "chat:" + (await visitor_id(waiting)).split(".")[0]
    assert (alert.to, alert.from_) == (ON_CALL, OUR_NUMBER)
    assert alert.body == f'Unanswered for 30 min: {address} wrote "My card was charged twice"'
    assert notes(await conversation(shop, waiting)) == [
        "Unanswered for 30 minutes; the on-call phone was alerted."
    ]
    assert notes(await conversation(shop, answered)) == []
    await expect(ours(waiting)).to_have_count(0)  # the visitor is not told
    await advance(shop, timedelta(hours=2))
    assert len(server_stub.accepted) == 1
