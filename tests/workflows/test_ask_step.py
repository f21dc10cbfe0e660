"""``ask`` end to end on SMS, through the real server: the answer lands in a run variable
that a later step's template reads, and then the timeout's durable timer does nothing; with
no answer the timer takes the run to ``on_timeout``, and a late answer starts nothing."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.clock import WEDNESDAY, MovableClock, next_weekday_at
from tests.conftest import ServerFactory, jobs_settled, workflow
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_conversations import Chat

BERLIN = ZoneInfo("Europe/Berlin")
START = next_weekday_at(WEDNESDAY, time(10, 0), BERLIN)
QUESTION = "Which order is it about, there?"
GOT = "Thanks, we are looking at order A-1234."
GONE = "No answer: text ORDER again when you have it."

ORDER = workflow(
    """
id: order
trigger:
  event: sms.received
  when: {keywords: [order]}
start: which
steps:
  which:
    ask:
      question: "Which order is it about, {{contact.name | there}}?"
      save_as: order
      timeout: 30m
    on_timeout: gone
    next: got
  got:
    send_sms: "Thanks, we are looking at order {{vars.order}}."
  gone:
    send_sms: "No answer: text ORDER again when you have it."
"""
)


@pytest.fixture
async def chat(servers: ServerFactory, server_stub: TwilioApiStub) -> Chat:
    clock = MovableClock(START)
    server = await servers.start(
        [ORDER],
        clock=clock,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    return Chat(server, server_stub, clock)


async def quiet(chat: Chat, count: int) -> None:
    """Once every job due now has run, the contact still has ``count`` texts."""
    await jobs_settled(chat.server)
    assert len(chat.received()) == count


async def test_the_answer_lands_in_a_variable_and_wins_over_the_timer(chat: Chat) -> None:
    await chat.send("order status")
    await chat.expect(QUESTION)
    await chat.send(" A-1234 ")
    await chat.expect(QUESTION, GOT)
    chat.clock.set(START + timedelta(minutes=31))
    await quiet(chat, 2)


async def test_no_answer_takes_the_timeout_branch_and_a_late_answer_starts_nothing(
    chat: Chat,
) -> None:
    await chat.send("order")
    await chat.expect(QUESTION)
    await quiet(chat, 1)
    chat.clock.set(START + timedelta(minutes=31))
    await chat.expect(QUESTION, GONE)
    await chat.send("A-1234")
    await quiet(chat, 2)
