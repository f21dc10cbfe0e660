"""Text conversations end to end: inbound texts (signed ``POST /twilio/sms``) start an
``sms.received`` workflow whose menu is texted as numbered options, replies resume it, a
``wait`` step wakes it later; texts go through the server's job worker to TwilioApiStub."""

from __future__ import annotations

import asyncio
import itertools
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sms.db import conversations
from tests.clock import MONDAY, MovableClock, next_weekday_at
from tests.conftest import (
    RunningServer,
    ServerFactory,
    eventually,
    jobs_settled,
    signed_post,
    workflow,
)
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from tests.sms.test_post_call_texts import EXAMPLES
from workflows.db import runs

NEW_YORK = ZoneInfo("America/New_York")
CONTACT = "+14155550123"
OUR_NUMBER = "+15005550001"
MONDAY_1230 = next_weekday_at(MONDAY, time(12, 30), NEW_YORK)  # the lunch break
MENU = "Hi! Reply with a number:\n1. Opening hours\n2. Call me back"

SMS_MENU = workflow(
    """
id: sms-menu
trigger:
  event: sms.received
  when: {keywords: [menu, 메뉴]}
hours: office
start: ask
steps:
  ask:
    menu:
      say: "Hi! Reply with a number:"
      options:
        "1": {next: hours, label: Opening hours}
        "2": {next: callback, label: Call me back}
      invalid: "Sorry, reply 1 or 2."
      max_failures: 2
      on_failure: human
  hours:
    send_sms: "We open {{schedule.next_open}}."
  callback:
    say: "Sure, we will call you within the hour."
    next: later
  later:
    wait: 1h
    next: follow_up
  follow_up:
    send_sms: "Hi {{contact.name | there}}, did we call you back? Reply MENU for more."
  human:
    say: "A person will text you shortly."
"""
)


class Chat:
    """A contact texting the server; the texts it got back are the stub's."""

    def __init__(self, server: RunningServer, stub: TwilioApiStub, clock: MovableClock) -> None:
        self.server = server
        self.stub = stub
        self.clock = clock
        self._sids = (f"SM{n:032d}" for n in itertools.count(1))

    async def send(self, body: str, sid: str | None = None) -> str:
        sid = sid or next(self._sids)
        form = {
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": CONTACT,
            "To": OUR_NUMBER,
            "Body": body,
        }
        assert (await signed_post(self.server, "/twilio/sms", form)).status == 200
        return sid

    def received(self) -> list[str]:
        return [message.body for message in self.stub.accepted]

    async def expect(self, *bodies: str) -> None:
        """Wait until the contact has received exactly ``bodies`` so far."""
        await eventually(lambda: len(self.stub.accepted) >= len(bodies), what=str(bodies))
        assert self.received() == list(bodies)
        assert all(m.to == CONTACT and m.from_ == OUR_NUMBER for m in self.stub.accepted)


@pytest.fixture
async def chat(servers: ServerFactory, server_stub: TwilioApiStub) -> Chat:
    clock = MovableClock(MONDAY_1230)
    server = await servers.start(
        [SMS_MENU],
        clock=clock,
        flows_dir=EXAMPLES,  # for its schedules folder (office)
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    return Chat(server, server_stub, clock)


async def quiet_for_a_poll(chat: Chat, count: int) -> None:
    """Give the worker time to send anything more; the contact still has ``count`` texts."""
    await asyncio.sleep(0.7)
    assert len(chat.received()) == count


async def test_the_menu_is_texted_with_numbered_options_and_a_number_picks_one(
    chat: Chat,
) -> None:
    await chat.send("Menu please")
    await chat.expect(MENU)
    await chat.send("1")
    await chat.expect(MENU, "We open today at 13:00.")


async def test_the_options_label_picks_it_and_a_wait_step_wakes_the_run_later(
    chat: Chat,
) -> None:
    await chat.send("메뉴")
    await chat.expect(MENU)
    await chat.send("please call me back")
    await chat.expect(MENU, "Sure, we will call you within the hour.")
    await quiet_for_a_poll(chat, 2)

    chat.clock.set(MONDAY_1230 + timedelta(minutes=61))
    await chat.expect(
        MENU,
        "Sure, we will call you within the hour.",
        "Hi there, did we call you back? Reply MENU for more.",
    )


async def test_wrong_answers_get_the_menu_again_then_its_failure_step(chat: Chat) -> None:
    await chat.send("menu")
    # Replied to once it came: the texts of two quick turns are jobs of their own, and may
    # leave in either order (docs/workflow-format.md, SMS).
    await chat.expect(MENU)
    await chat.send("7")
    await chat.expect(MENU, "Sorry, reply 1 or 2.\n" + MENU)
    await chat.send("what?")
    await chat.expect(MENU, "Sorry, reply 1 or 2.\n" + MENU, "A person will text you shortly.")
    # The conversation waits for nothing now: a "1" starts nothing.
    await chat.send("1")
    await quiet_for_a_poll(chat, 3)


async def test_a_repeated_webhook_is_answered_once(chat: Chat) -> None:
    sid = await chat.send("menu")
    await chat.expect(MENU)
    await chat.send("menu", sid=sid)
    answer = await chat.send("1")
    await chat.send("1", sid=answer)
    await chat.expect(MENU, "We open today at 13:00.")
    await quiet_for_a_poll(chat, 2)


async def test_a_text_no_workflow_takes_gets_no_answer(chat: Chat) -> None:
    await chat.send("hello there")
    await quiet_for_a_poll(chat, 0)
    assert await chat.server.count("messages") == 1  # kept, all the same


async def test_a_question_left_unanswered_for_a_day_lapses(chat: Chat) -> None:
    await chat.send("menu")
    await chat.expect(MENU)
    chat.clock.set(MONDAY_1230 + timedelta(hours=25))
    await chat.send("1")  # too late: a new conversation, which no workflow takes
    await quiet_for_a_poll(chat, 1)

    waiting = await chat.server.db.read(
        lambda conn: conn.execute(select(conversations.c.waiting_run_id)).scalar()
    )
    assert waiting is None
    statuses = await chat.server.db.read(
        lambda conn: conn.execute(select(runs.c.status)).scalars().all()
    )
    assert statuses == ["expired"]


EVERY_MESSAGE = workflow(
    """
id: every-message
trigger: {event: message.received}
start: echo
steps:
  echo:
    reply: "Automatic answer to: {{message.body}}"
"""
)


async def test_a_menu_answer_is_the_menu_s_and_starts_no_message_workflow(
    servers: ServerFactory, server_stub: TwilioApiStub
) -> None:
    # An FAQ (a message.received workflow) answers the contact's own texts, never the "1"
    # that a waiting menu takes as its answer.
    clock = MovableClock(MONDAY_1230)
    server = await servers.start(
        [SMS_MENU, EVERY_MESSAGE],
        clock=clock,
        flows_dir=EXAMPLES,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    chat = Chat(server, server_stub, clock)
    await chat.send("menu")
    await eventually(lambda: MENU in chat.received(), what="the menu")
    await chat.send("1")
    await eventually(lambda: "We open today at 13:00." in chat.received(), what="the answer")
    await jobs_settled(server)
    assert "Automatic answer to: 1" not in chat.received()
    await chat.send("Where are you?")
    await eventually(
        lambda: "Automatic answer to: Where are you?" in chat.received(),
        what="the message workflow's answer to a text no run waits for",
    )
