"""One turn of a text conversation as texts: says joined, menus numbered, send_sms apart."""

from __future__ import annotations

from datetime import UTC, datetime

from sms.render import PlannedText, TurnPlan, menu_text, plan_turn
from workflows.instructions import Gather, Pause, Play, Say, SendText, WaitUntil

MENU = Gather(
    prompts=(Say("How can we help?"),),
    timeout=5,
    choices=(("1", "Opening hours"), ("2", "Talk to us")),
)
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_menu_text_lists_the_question_then_numbered_options() -> None:
    assert menu_text(MENU) == "How can we help?\n1. Opening hours\n2. Talk to us"


def test_menu_text_keeps_only_spoken_prompts() -> None:
    gather = Gather(
        prompts=(Play("https://example.com/hi.wav"), Say("Pick one."), Pause(1)),
        timeout=5,
        choices=(("1", "Sales"),),
    )
    assert menu_text(gather) == "Pick one.\n1. Sales"


def test_consecutive_says_go_out_as_one_text() -> None:
    plan = plan_turn([Say("Hello."), Say("We are closed.")])
    assert plan == TurnPlan((PlannedText("Hello.\nWe are closed."),))
    assert plan.wake_at is None
    assert not plan.awaits_reply


def test_says_and_a_menu_are_one_text_and_the_run_awaits_a_reply() -> None:
    plan = plan_turn([Say("Thanks for calling."), MENU])
    assert plan.texts == (
        PlannedText("Thanks for calling.\nHow can we help?\n1. Opening hours\n2. Talk to us"),
    )
    assert plan.awaits_reply
    assert plan.wake_at is None


def test_send_sms_is_a_text_of_its_own_with_its_recipient() -> None:
    plan = plan_turn(
        [
            Say("One."),
            Say("Two."),
            SendText(to="+15550003333", body="A caller needs you."),
            Say("Three."),
        ]
    )
    assert plan.texts == (
        PlannedText("One.\nTwo."),
        PlannedText("A caller needs you.", "+15550003333"),
        PlannedText("Three."),
    )
    assert not plan.awaits_reply


def test_a_wait_gives_the_moment_to_wake() -> None:
    plan = plan_turn([Say("We will text you when we open."), WaitUntil(AT)])
    assert plan == TurnPlan((PlannedText("We will text you when we open."),), wake_at=AT)
    assert not plan.awaits_reply


def test_an_empty_turn_sends_nothing() -> None:
    assert plan_turn([]) == TurnPlan(())
