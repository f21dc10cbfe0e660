"""The conversation steps on chat, through the socket: ``ask`` takes the visitor's next
message, ``wait`` is a durable timer the worker fires (the server's clock moved past it), and a
``survey`` shows a 1-5 row whose tapped answer is kept as the conversation's rating."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server import JOB_WORKER
from tests.chat.widget_client import widget
from tests.clock import MovableClock
from tests.conftest import ServerFactory, eventually, jobs_settled, workflow
from workflows.conversations.db import conversation_ratings
from workflows.loader import from_text
from workflows.problems import WorkflowInvalid

FLOW = workflow("""\
id: chat-steps
trigger: {event: chat.started}
start: name
steps:
  name:
    ask: {question: "Hello! What is your name?", save_as: name}
    next: pause
  pause:
    wait: 10m
    next: rate
  rate:
    survey: {question: "Thanks {{vars.name}}. How did we do?"}
    next: bye
  bye:
    say: "Thank you!"
""")


async def test_ask_wait_and_survey_on_chat(servers: ServerFactory) -> None:
    clock = MovableClock()
    server = await servers.start([FLOW], clock=clock)
    async with widget(server) as chat:
        await chat.wait_for_text("What is your name?")
        await chat.say("Robin")
        await chat.wait(lambda w: "Robin" in w.texts("visitor"), "the answer shown")
        assert not any("How did we do" in text for text in chat.texts())
        clock.advance(timedelta(minutes=11))
        server.app[JOB_WORKER].wake()
        survey = await chat.wait_for_text("Thanks Robin. How did we do?", within=10)
        assert [b["key"] for b in survey["buttons"]] == ["1", "2", "3", "4", "5"]
        label = survey["buttons"][3]["label"]
        await chat.say(label, choice="4")
        await chat.wait_for_text("Thank you!")
        assert chat.texts("visitor") == ["Robin", "Good"]

    async def rated() -> list[int]:
        query = select(conversation_ratings.c.rating)
        return list(await server.db.read(lambda conn: conn.execute(query).scalars().all()))

    await eventually(rated, what="the rating kept")
    assert await rated() == [4]


async def test_without_a_greeting_the_conversation_starts_with_the_first_message(
    servers: ServerFactory,
) -> None:
    server = await servers.start([], admin_token=None)
    async with widget(server) as chat:
        await chat.ws.send_json({"type": "ping"})
        await chat.wait(lambda w: any(f["type"] == "pong" for f in w.frames), "pong")
        assert await server.count("conversations") == 0
        await chat.say("Hello?")
        await chat.wait_for_text("Hello?")
    assert await server.count("conversations") == 1


MENU = workflow("""\
id: chat-menu
trigger: {event: chat.started}
start: main
steps:
  main:
    menu:
      say: "What can we help you with?"
      options:
        "1": {next: hours, label: Opening hours}
  hours:
    say: "We are open 9 to 6."
""")
EVERY_MESSAGE = workflow("""\
id: every-message
trigger: {event: message.received}
start: echo
steps:
  echo:
    reply: "Automatic answer to: {{message.body}}"
""")


async def test_a_menu_answer_is_the_menu_s_and_starts_no_message_workflow(
    servers: ServerFactory,
) -> None:
    """A tapped answer button goes to the waiting menu only; a ``message.received``
    workflow (the FAQ's) answers the visitor's own messages, not their menu choices."""
    server = await servers.start([MENU, EVERY_MESSAGE])
    async with widget(server) as chat:
        await chat.wait_for_text("What can we help you with?")
        await chat.say("Opening hours", choice="1")
        await chat.wait_for_text("We are open 9 to 6.")
        await chat.say("Where are you?")
        await chat.wait_for_text("Automatic answer to: Where are you?")
        await jobs_settled(server)
        assert chat.texts() == [
            "What can we help you with?",
            "Opening hours",
            "We are open 9 to 6.",
            "Where are you?",
            "Automatic answer to: Where are you?",
        ]


def test_a_text_from_a_chat_workflow_must_say_which_number_it_goes_from() -> None:
    text = """\
id: chat-texts
trigger: {event: chat.started}
start: text
steps:
  text: {send_sms: {body: "A visitor is here.", to: "+14155550100"}}
"""
    with pytest.raises(WorkflowInvalid) as raised:
        from_text(text, "t.yaml")
    assert raised.value.messages() == [
        "t.yaml:5 steps.text.send_sms: on chat a text needs `from`: a chat has no number of"
        " yours to send it from"
    ]
    with_from = text.replace('to: "+14155550100"', 'to: "+14155550100", from: "+15005550006"')
    assert from_text(with_from, "t.yaml").id == "chat-texts"
