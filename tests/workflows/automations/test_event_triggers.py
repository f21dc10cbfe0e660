"""Conversation triggers through the real server: a text opens a conversation, an agent
replies, assigns and closes through the admin API, and each change starts its workflow once,
whose steps act on the conversation as automation (what agents see on the timeline, what the
customer receives)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually, workflow
from tests.fakes.twilio_api import TwilioApiStub
from tests.workflows.automations.helpers import Desk, automated_replies, kinds, notes, open_desk

FLOWS = [
    workflow(
        """
id: on-open
trigger: {event: conversation.opened}
start: tag
steps:
  tag: {tag: new, next: welcome}
  welcome: {reply: "Hi! We got your message and will answer soon."}
"""
    ),
    workflow(
        """
id: on-message
trigger:
  event: message.received
  when: {keywords: [refund, 환불]}
start: urgent
steps:
  urgent: {set_priority: high, next: note}
  note: {note: "Refund asked: {{call.body}}"}
"""
    ),
    workflow(
        """
id: on-agent-reply
trigger: {event: agent.replied}
start: untag
steps:
  untag: {untag: new}
"""
    ),
    workflow(
        """
id: on-assign
trigger:
  event: conversation.assigned
  when: {conversation: {team: billing}}
start: note
steps:
  note: {note: "Billing has it ({{conversation.assignee | nobody}})."}
"""
    ),
    workflow(
        """
id: on-close
trigger: {event: conversation.closed}
start: thanks
steps:
  thanks:
    branch:
      choices:
        - when: {conversation: {tags: [vip]}}
          next: vip
      else: plain
  vip: {reply: "Thank you, dear VIP."}
  plain: {reply: "Thanks, we're done here. Text us any time."}
"""
    ),
]


@pytest.fixture
async def desk(servers: ServerFactory, server_stub: TwilioApiStub) -> AsyncIterator[Desk]:
    async with aiohttp.ClientSession() as session:
        yield await open_desk(servers, server_stub, session, FLOWS, MovableClock())


async def test_each_conversation_trigger_starts_its_workflow_once(desk: Desk) -> None:
    await desk.text_in("Hello, I want a refund")
    await desk.expect("Hi! We got your message and will answer soon.")
    conversation = await desk.conversation()
    cid = conversation["id"]

    async def refund_noted() -> bool:
        return bool(notes(await desk.detail(cid)))

    await eventually(refund_noted, what="the refund note")
    seen = await desk.detail(cid)
    assert seen["tags"] == ["new"]
    assert seen["priority"] == "high"
    assert notes(seen) == ["Refund asked: Hello, I want a refund"]
    assert automated_replies(seen) == ["Hi! We got your message and will answer soon."]
    # The automated welcome is not an agent's answer.
    assert seen["unanswered"] is True
    assert seen["first_response_at"] is None

    await desk.put("/agents/bob", {"status": "available"})
    await desk.put("/teams/billing", {"members": ["bob"]})
    await desk.act(cid, "replies", {"body": "Sure, which order?"})
    await desk.act(cid, "assign", {"team": "billing"})

    async def billing_noted() -> bool:
        detail = await desk.detail(cid)
        return len(notes(detail)) == 2 and detail["tags"] == []

    await eventually(billing_noted, what="the assignment note and the untag")
    assert notes(await desk.detail(cid))[1] == "Billing has it (bob)."

    await desk.act(cid, "close")
    await desk.expect(
        "Hi! We got your message and will answer soon.",
        "Sure, which order?",
        "Thanks, we're done here. Text us any time.",
    )
    await desk.advance(timedelta(seconds=1))
    await desk.quiet(3)
    final = await desk.detail(cid)
    assert kinds(final).count("note") == 2
    assert kinds(final).count("untagged") == 1
    assert automated_replies(final)[-1] == "Thanks, we're done here. Text us any time."
    actors = {e["actor"]["type"] for e in final["timeline"] if e["kind"] in ("note", "tagged")}
    assert actors == {"automation"}


async def test_a_message_the_filter_refuses_starts_nothing(desk: Desk) -> None:
    await desk.text_in("Just saying hi")
    await desk.expect("Hi! We got your message and will answer soon.")
    conversation = await desk.conversation()
    await desk.advance(timedelta(seconds=1))
    seen = await desk.detail(conversation["id"])
    assert seen["priority"] == "normal"
    assert notes(seen) == []
