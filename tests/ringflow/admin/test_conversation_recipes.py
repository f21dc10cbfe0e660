"""The conversation recipes, each installed in one API call and driven end to end on SMS:
texts through the signed webhook, agents through the admin API, the server's clock moved.
Each checks what the customer (or the on-call phone) received, what agents see on the
conversation, and that a timer whose condition no longer holds does nothing."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.clock import MONDAY, MovableClock, next_weekday_at, on_day_at
from tests.conftest import ServerFactory, eventually
from tests.fakes.twilio_api import TwilioApiStub
from tests.sms.test_post_call_texts import EXAMPLES
from tests.workflows.automations.helpers import (
    CONTACT,
    Desk,
    automated_replies,
    notes,
    open_desk,
)

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), NEW_YORK)
OTHER = "+14155550199"
ON_CALL = "+14155550100"


@pytest.fixture
async def desk(
    servers: ServerFactory, server_stub: TwilioApiStub, tmp_path: Path
) -> AsyncIterator[Desk]:
    flows = tmp_path / "flows"
    (flows / "schedules").mkdir(parents=True)
    shutil.copy(EXAMPLES / "schedules" / "office.yaml", flows / "schedules" / "office.yaml")
    async with aiohttp.ClientSession() as session:
        yield await open_desk(
            servers, server_stub, session, [], MovableClock(MONDAY_10), flows_dir=flows
        )


async def test_first_response_delay_notice(desk: Desk) -> None:
    await desk.install("first-response-delay", workflow_id="late-answer", hours="office")
    await desk.text_in("Where is my order?")
    await desk.text_in("Do you ship abroad?", sender=OTHER)
    late, answered = await desk.conversation(), await desk.conversation(OTHER)
    await desk.advance(timedelta(minutes=5))
    await desk.act(answered["id"], "replies", {"body": "Yes, to 30 countries."})
    await desk.advance(timedelta(minutes=11))

    notice = "Thanks for your patience! An agent will answer you shortly."
    await desk.expect(notice)
    assert automated_replies(await desk.detail(late["id"])) == [notice]
    assert (await desk.detail(late["id"]))["unanswered"] is True  # still waits for a person
    await desk.advance(timedelta(hours=1))
    await desk.quiet(1)
    assert desk.received(OTHER) == ["Yes, to 30 countries."]


async def test_off_hours_notice(desk: Desk) -> None:
    await desk.install("off-hours-notice", workflow_id="closed-notice", hours="office")
    await desk.text_in("Open now?", sender=OTHER)  # 10:00 on a Monday: open, no notice
    desk.clock.set(on_day_at(MONDAY_10, 0, time(12, 30)))  # the lunch break
    await desk.text_in("Hello, anyone?")
    await eventually(lambda: bool(desk.received()), what="the off-hours notice")
    [notice] = desk.received()
    assert notice.startswith("Thanks for your message. We're closed right now; we open ")
    assert "13:00" in notice
    assert notice.endswith("We'll answer you then.")
    await desk.text_in("Still there?")  # a second message while closed: no second notice
    await desk.advance(timedelta(seconds=1))
    await desk.quiet(1)
    assert desk.received(OTHER) == []
    conversation = await desk.conversation()
    assert automated_replies(conversation) == [notice]


async def test_quiet_follow_up(desk: Desk) -> None:
    await desk.install("quiet-follow-up", workflow_id="follow-up", wait_hours=24)
    await desk.text_in("How much is shipping?")
    await desk.text_in("How much is shipping to Busan?", sender=OTHER)
    quiet, chatty = await desk.conversation(), await desk.conversation(OTHER)
    await desk.act(quiet["id"], "replies", {"body": "Free over $50."})
    await desk.act(chatty["id"], "replies", {"body": "$12 to Busan."})
    await desk.advance(timedelta(hours=2))
    await desk.text_in("Thanks!", sender=OTHER)  # answered: its follow-up no longer holds

    await desk.advance(timedelta(hours=22, minutes=1))
    follow_up = "Hi there, did that answer your question? Just reply here if not."
    await desk.expect("Free over $50.", follow_up)
    await desk.advance(timedelta(days=2))
    await desk.quiet(2)
    assert desk.received(OTHER) == ["$12 to Busan."]
    assert automated_replies(await desk.detail(quiet["id"])) == [follow_up]


async def test_auto_close(desk: Desk) -> None:
    await desk.install("auto-close", workflow_id="auto-close", days=3)
    await desk.text_in("Can I return this?")
    await desk.text_in("Can I exchange this?", sender=OTHER)
    silent, busy = await desk.conversation(), await desk.conversation(OTHER)
    await desk.act(silent["id"], "replies", {"body": "Yes, within 30 days."})
    await desk.act(busy["id"], "replies", {"body": "Yes, any size."})
    await desk.advance(timedelta(days=2))
    await desk.text_in("Which size do you have?", sender=OTHER)

    await desk.advance(timedelta(days=1, minutes=1))
    goodbye = "We're closing this conversation for now. Write to us any time to pick it up again."
    await desk.expect("Yes, within 30 days.", goodbye)
    closed = await desk.detail(silent["id"])
    assert closed["status"] == "closed"
    assert notes(closed) == [
        "Closed automatically after 3 days without an answer from the customer."
    ]
    assert [e["actor"]["type"] for e in closed["timeline"] if e["kind"] == "closed"] == [
        "automation"
    ]
    still = await desk.detail(busy["id"])
    assert still["status"] == "open"
    assert desk.received(OTHER) == ["Yes, any size."]


async def test_priority_by_keywords(desk: Desk) -> None:
    await desk.install("priority-keywords", workflow_id="priority")
    await desk.text_in("앱에 오류가 있어요")
    await desk.text_in("구독 해지 하고 싶어요", sender=OTHER)
    third = "+14155550188"
    await desk.text_in("What time do you open?", sender=third)
    error, cancel = await desk.conversation(), await desk.conversation(OTHER)
    plain = await desk.conversation(third)

    async def raised() -> bool:
        details = [await desk.detail(c["id"]) for c in (error, cancel)]
        return all(d["priority"] == "urgent" and d["tags"] == ["keyword"] for d in details)

    await eventually(raised, what="both conversations urgent and tagged")
    await desk.advance(timedelta(seconds=1))
    after = await desk.detail(plain["id"])
    assert (after["priority"], after["tags"]) == ("normal", [])
    answer = await desk.api.call("GET", "/conversations", params={"priority": "urgent"})
    assert sorted(c["id"] for c in answer.json["items"]) == sorted([error["id"], cancel["id"]])
    assert desk.stub.accepted == []  # nothing is sent to customers


async def test_unanswered_alert(desk: Desk) -> None:
    await desk.install(
        "unanswered-alert", workflow_id="unanswered", minutes=30, on_call=ON_CALL, hours="office"
    )
    await desk.text_in("My card was charged twice")
    await desk.text_in("Is the store open?", sender=OTHER)
    waiting, answered = await desk.conversation(), await desk.conversation(OTHER)
    await desk.advance(timedelta(minutes=10))
    await desk.act(answered["id"], "replies", {"body": "Yes, until 17:00."})
    await desk.advance(timedelta(minutes=21))

    alert = f'Unanswered for 30 min: {CONTACT} wrote "My card was charged twice"'
    await desk.expect(alert, to=ON_CALL)
    assert notes(await desk.detail(waiting["id"])) == [
        "Unanswered for 30 minutes; the on-call phone was alerted."
    ]
    assert notes(await desk.detail(answered["id"])) == []
    assert desk.received() == []  # the customer is not texted
    await desk.advance(timedelta(hours=2))
    await desk.quiet(1, to=ON_CALL)
