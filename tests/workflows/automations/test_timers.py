"""Timer triggers through the real server with its clock moved: each fires `after` its
starting condition, once, and does nothing when the condition no longer holds when it comes
due (an agent replied, the customer wrote, the conversation was reopened); `no_agent_reply`
counts the workflow's business hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.clock import TUESDAY, MovableClock, next_weekday_at, on_day_at
from tests.conftest import ServerFactory, workflow
from tests.fakes.twilio_api import TwilioApiStub
from tests.workflows.automations.helpers import (
    Desk,
    automated_replies,
    notes,
    open_desk,
)

NEW_YORK = ZoneInfo("America/New_York")
TUESDAY_1000 = next_weekday_at(TUESDAY, time(10, 0), NEW_YORK)
OTHER = "+14155550199"

FLOWS = [
    workflow(
        """
id: first-response
trigger: {event: no_agent_reply, after: 15m}
start: notice
steps:
  notice: {reply: "Sorry for the wait, an agent will be with you shortly."}
"""
    ),
    workflow(
        """
id: still-unanswered
trigger: {event: unanswered, after: 1h}
start: alert
steps:
  alert: {note: "Unanswered for an hour: {{call.since}}"}
"""
    ),
    workflow(
        """
id: follow-up
trigger: {event: no_customer_reply, after: 1d}
start: nudge
steps:
  nudge: {reply: "Did that answer your question?"}
"""
    ),
    workflow(
        """
id: archive-resolved-conversations-nobody-wrote-to-again-for-2-days
trigger: {event: idle_after_resolved, after: 2d}
start: tag
steps:
  tag: {tag: archived}
"""
    ),
]

NOTICE = "Sorry for the wait, an agent will be with you shortly."


@pytest.fixture
async def desk(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[Desk]:
    async with aiohttp.ClientSession() as session:
        yield await open_desk(servers, server_stub, session, FLOWS, MovableClock(TUESDAY_1000))


async def test_no_agent_reply_fires_after_n_once_and_not_once_answered(desk: Desk) -> None:
    await desk.text_in("Is anyone there?")
    await desk.text_in("Hello?", sender=OTHER)
    late = await desk.conversation()
    answered = await desk.conversation(OTHER)
    await desk.advance(timedelta(minutes=5))
    await desk.act(answered["id"], "replies", {"body": "Yes, how can I help?"})
    await desk.advance(timedelta(minutes=9))
    await desk.quiet(0)

    await desk.advance(timedelta(minutes=2))
    await desk.expect(NOTICE)
    assert automated_replies(await desk.detail(late["id"])) == [NOTICE]
    # The other conversation was answered before its timer came due: nothing.
    assert desk.received(OTHER) == ["Yes, how can I help?"]

    await desk.advance(timedelta(hours=2))
    await desk.quiet(1)
    assert desk.received(OTHER) == ["Yes, how can I help?"]
    timers = dict(await desk.timers())
    assert len(timers) >= 2
    assert set(timers.values()) <= {"done", "queued"}


async def test_unanswered_follows_the_latest_text_and_stops_at_a_reply(desk: Desk) -> None:
    await desk.text_in("My order is late")
    conversation = await desk.conversation()
    cid = conversation["id"]
    await desk.advance(timedelta(minutes=40))
    await desk.text_in("Hello??")  # the latest text: its own timer, an hour from now
    await desk.advance(timedelta(minutes=30))  # 70 minutes after the first text
    assert notes(await desk.detail(cid)) == []

    await desk.advance(timedelta(minutes=31))
    assert len(notes(await desk.detail(cid))) == 1
    await desk.act(cid, "replies", {"body": "Looking into it."})
    await desk.text_in("Thanks, waiting")
    await desk.act(cid, "replies", {"body": "Found it: arriving tomorrow."})
    await desk.advance(timedelta(hours=2))
    assert len(notes(await desk.detail(cid))) == 1


async def test_no_customer_reply_follows_up_once_unless_the_customer_wrote(desk: Desk) -> None:
    await desk.text_in("What are your prices?")
    await desk.text_in("Do you deliver?", sender=OTHER)
    quiet = await desk.conversation()
    chatty = await desk.conversation(OTHER)
    await desk.act(quiet["id"], "replies", {"body": "See our site."})
    await desk.act(chatty["id"], "replies", {"body": "Yes, we do."})
    await desk.advance(timedelta(hours=3))
    await desk.text_in("Great, thanks", sender=OTHER)

    await desk.advance(timedelta(days=1))
    await desk.expect("See our site.", "Did that answer your question?")
    await desk.advance(timedelta(days=2))
    await desk.quiet(2)
    assert "Did that answer your question?" not in desk.received(OTHER)


async def test_idle_after_resolved_waits_for_a_close_nobody_broke(desk: Desk) -> None:
    await desk.text_in("Cancel my booking")
    conversation = await desk.conversation()
    cid = conversation["id"]
    await desk.act(cid, "replies", {"body": "Done."})
    await desk.act(cid, "close")
    await desk.advance(timedelta(days=1))
    await desk.text_in("One more thing")  # within the reopen window: reopens it
    await desk.act(cid, "replies", {"body": "Sure?"})
    await desk.act(cid, "close")
    await desk.advance(timedelta(days=1, hours=1))  # the first close's timer: no longer holds
    assert (await desk.detail(cid))["tags"] == []

    await desk.advance(timedelta(days=1))
    assert (await desk.detail(cid))["tags"] == ["archived"]


async def test_no_agent_reply_counts_business_hours(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    flow = workflow(
        """
id: office-first-response
trigger: {event: no_agent_reply, after: 30m}
hours: office
start: notice
steps:
  notice: {reply: "Thanks for your patience: we answer during office hours."}
"""
    )
    # 16:50 on a Tuesday: 10 office minutes today (closes at 17:00), 20 more from 9:00.
    clock = MovableClock(on_day_at(TUESDAY_1000, 0, time(16, 50)))
    async with aiohttp.ClientSession() as session:
        desk = await open_desk(servers, server_stub, session, [flow], clock)
        await desk.text_in("Are you open?")
        await desk.conversation()
        await desk.advance(timedelta(minutes=40))  # 17:30: 40 minutes, 10 of them open
        await desk.quiet(0)
        clock.set(on_day_at(TUESDAY_1000, 1, time(9, 19)))
        await desk.advance(timedelta(0))
        await desk.quiet(0)
        await desk.advance(timedelta(minutes=2))  # 9:21
        await desk.expect("Thanks for your patience: we answer during office hours.")


async def test_an_automated_reply_keeps_the_workflows_quiet_hours(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    flow = workflow(
        """
id: evening-follow-up
trigger: {event: no_customer_reply, after: 1h}
hours: office
start: nudge
steps:
  nudge: {reply: "Anything else we can do?"}
"""
    )
    # The office's quiet hours are 21:00-08:00: a follow-up due at 21:30 waits for 8:00.
    clock = MovableClock(on_day_at(TUESDAY_1000, 0, time(20, 30)))
    async with aiohttp.ClientSession() as session:
        desk = await open_desk(servers, server_stub, session, [flow], clock)
        await desk.text_in("Thanks for the help")
        conversation = await desk.conversation()
        await desk.act(conversation["id"], "replies", {"body": "You're welcome!"})
        await desk.expect("You're welcome!")
        await desk.advance(timedelta(hours=1, minutes=1))
        await desk.quiet(1)
        assert automated_replies(await desk.detail(conversation["id"])) == [
            "Anything else we can do?"
        ]
        clock.set(on_day_at(TUESDAY_1000, 1, time(8, 1)))
        await desk.advance(timedelta(0))
        await desk.expect("You're welcome!", "Anything else we can do?")
