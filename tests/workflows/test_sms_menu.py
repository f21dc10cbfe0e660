"""Menus on SMS: the options a text lists, replies that pick one by number, label or
keyword, and voice-only steps refused on text workflows."""

from __future__ import annotations

import pytest

from sms.render import menu_text
from workflows.engine import Engine, Turn
from workflows.events import DigitsReceived
from workflows.instructions import Gather, Say
from workflows.loader import Workflow, from_text
from workflows.problems import WorkflowInvalid

TEXT = {"from": "+15550001111", "to": "+15550002222"}


def sms_flow(steps: str, *, event: str = "sms.received") -> Workflow:
    text = f"id: t\ntrigger: {{event: {event}}}\nstart: main\nsteps:\n{steps}"
    return from_text(text, "t.yaml")


MENU = sms_flow(
    """
  main:
    menu:
      say: "How can we help? Reply with a number."
      options:
        "1": {next: hours, label: Opening hours}
        "2": {next: agent, keywords: [human, agent]}
        "3": billing
        "4": {next: agent, label: Talk to us, keywords: [call]}
      invalid: "Sorry, we did not get that."
      save_as: choice
  hours: {say: "We are open 9 to 6."}
  agent: {say: "Someone will text you."}
  billing: {say: "Billing it is."}
"""
)


def gather(turn: Turn) -> Gather:
    last = turn.instructions[-1]
    assert isinstance(last, Gather)
    return last


def said(turn: Turn) -> list[str]:
    return [i.text for i in turn.instructions if isinstance(i, Say)]


def reply(text: str) -> DigitsReceived:
    """A text as the SMS channel hands it over: keys only are ``digits`` too."""
    digits = text.strip() if text.strip().isdigit() else ""
    return DigitsReceived(digits=digits, speech=text)


def test_choices_carry_each_option_key_and_label() -> None:
    menu = gather(Engine().start(MENU, TEXT))
    # The label; else the first keyword; else the step name.
    assert menu.choices == (
        ("1", "Opening hours"),
        ("2", "human"),
        ("3", "billing"),
        ("4", "Talk to us"),
    )
    assert menu_text(menu) == (
        "How can we help? Reply with a number.\n"
        "1. Opening hours\n2. human\n3. billing\n4. Talk to us"
    )


@pytest.mark.parametrize(
    ("text", "choice", "answer"),
    [
        ("1", "1", "We are open 9 to 6."),
        (" 3 ", "3", "Billing it is."),
        ("What are your opening hours?", "1", "We are open 9 to 6."),
        ("HOURS OPENING", "1", "We are open 9 to 6."),
        ("I want a human please", "2", "Someone will text you."),
        ("Can I talk to us", "4", "Someone will text you."),
        ("please call me", "4", "Someone will text you."),
    ],
)
def test_a_reply_picks_an_option(text: str, choice: str, answer: str) -> None:
    engine = Engine()
    turn = engine.resume(MENU, engine.start(MENU, TEXT).state, reply(text), TEXT)
    assert said(turn) == [answer]
    assert turn.state.vars == {"choice": choice}
    assert turn.finished


@pytest.mark.parametrize("text", ["9", "opening", "talk", "hello there"])
def test_a_reply_matching_no_option_asks_again(text: str) -> None:
    engine = Engine()
    turn = engine.resume(MENU, engine.start(MENU, TEXT).state, reply(text), TEXT)
    assert said(turn) == []
    assert menu_text(gather(turn)) == (
        "Sorry, we did not get that.\nHow can we help? Reply with a number.\n"
        "1. Opening hours\n2. human\n3. billing\n4. Talk to us"
    )
    assert turn.state.cursor == "main"
    assert not turn.finished


def test_what_the_menu_shows_picks_the_option() -> None:
    # "3. billing" is shown (the step name, for want of a label): replying "billing" picks it.
    engine = Engine()
    turn = engine.resume(MENU, engine.start(MENU, TEXT).state, reply("billing"), TEXT)
    assert turn.state.path[-1] == "billing"


def test_a_dial_step_is_refused_on_sms() -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        sms_flow('  main: {dial: {number: "+15550003333"}}')
    assert raised.value.messages() == ["t.yaml:5 steps.main: a 'dial' step cannot run on sms"]


@pytest.mark.parametrize("event", ["call.missed", "call.ended", "call.after_hours"])
def test_post_call_workflows_are_text_workflows(event: str) -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        sms_flow(
            '  main: {say: "Sorry we missed you.", next: ring}\n'
            '  ring: {dial: {number: "+15550003333"}}',
            event=event,
        )
    assert raised.value.messages() == ["t.yaml:6 steps.ring: a 'dial' step cannot run on sms"]
