"""The engine and the step kinds, without I/O: what a caller would hear and where they go."""

from __future__ import annotations

import pytest

from workflows.engine import Engine, RunNotWaiting, RunState, StepLimitExceeded, Turn
from workflows.events import DialFinished, DigitsReceived, InputTimedOut, RecordingFinished
from workflows.instructions import Dial, DialTarget, Gather, Hangup, Play, Say
from workflows.loader import Workflow, from_data, from_text

CALL = {"sid": "CA1", "from": "+15550001111", "to": "+15550002222"}


def flow(steps: str, *, start: str = "main", defaults: str = "") -> Workflow:
    text = f"id: t\ntrigger: {{event: call.incoming}}\nstart: {start}\n{defaults}\nsteps:\n{steps}"
    return from_text(text, "t.yaml")


MENU = flow(
    """
  main:
    menu:
      say: "Long greeting."
      repeat_say: "Short greeting."
      options:
        "1": one
        "2": {next: two, keywords: [billing, invoice]}
      invalid: "Wrong key."
      no_input: "Nothing heard."
      max_failures: 2
      max_timeouts: 3
      on_failure: fallback
      save_as: choice
  one: {say: "One.", next: main}
  two: {hangup: "Two."}
  fallback: {hangup: "Fallback."}
"""
)


def said(turn: Turn) -> list[str]:
    """The texts of every Say, inside gathers too, in order."""
    texts: list[str] = []
    for instruction in turn.instructions:
        prompts = instruction.prompts if isinstance(instruction, Gather) else (instruction,)
        texts += [p.text for p in prompts if isinstance(p, Say)]
    return texts


def test_menu_plays_the_long_greeting_first_and_the_short_one_on_repeats() -> None:
    engine = Engine()
    first = engine.start(MENU, CALL)
    assert said(first) == ["Long greeting."]
    gather = first.instructions[-1]
    assert isinstance(gather, Gather)
    assert (gather.num_digits, gather.timeout, gather.speech) == (1, 5, True)
    assert gather.speech_hints == ("billing", "invoice")

    wrong = engine.resume(MENU, first.state, DigitsReceived("9"), CALL)
    assert said(wrong) == ["Wrong key.", "Short greeting."]
    silent = engine.resume(MENU, wrong.state, InputTimedOut(), CALL)
    assert said(silent) == ["Nothing heard.", "Short greeting."]


def test_failures_and_timeouts_have_separate_limits() -> None:
    engine = Engine()
    turn = engine.start(MENU, CALL)
    for _ in range(2):  # two silences: under max_timeouts (3)
        turn = engine.resume(MENU, turn.state, InputTimedOut(), CALL)
    turn = engine.resume(MENU, turn.state, DigitsReceived("7"), CALL)  # first wrong key
    assert turn.state.cursor == "main"
    turn = engine.resume(MENU, turn.state, DigitsReceived("8"), CALL)  # second: max_failures
    assert said(turn) == ["Fallback."]
    assert turn.finished
    assert turn.state.keys == ["7", "8"]


def test_counters_start_again_when_the_menu_is_entered_again() -> None:
    engine = Engine()
    turn = engine.start(MENU, CALL)
    turn = engine.resume(MENU, turn.state, DigitsReceived("7"), CALL)
    turn = engine.resume(MENU, turn.state, DigitsReceived("1"), CALL)  # One. -> back to main
    assert said(turn) == ["One.", "Long greeting."]
    turn = engine.resume(MENU, turn.state, DigitsReceived("7"), CALL)
    assert turn.state.cursor == "main", "one wrong key after re-entry is not the second failure"
    assert turn.state.path == ["main", "one", "main"]


def test_a_spoken_keyword_picks_its_option_and_is_saved() -> None:
    engine = Engine()
    turn = engine.start(MENU, CALL)
    turn = engine.resume(MENU, turn.state, DigitsReceived(speech="About my Invoice, please"), CALL)
    assert said(turn) == ["Two."]
    assert turn.state.vars == {"choice": "2"}
    assert turn.state.keys == ["(About my Invoice, please)"]


def test_a_menu_without_on_failure_ends_the_call() -> None:
    workflow = flow('  main: {menu: {say: "Pick.", options: {"1": main}, max_timeouts: 1}}')
    engine = Engine()
    turn = engine.resume(workflow, engine.start(workflow, CALL).state, InputTimedOut(), CALL)
    assert turn.finished
    assert turn.instructions == ()


DIAL = flow(
    """
  main:
    dial: {numbers: ["+15550001111", "+15550003333"], sip: ["sip:desk@pbx.example.com"],
           client: [alice], timeout: 12, caller_id: "+15550009999", say: "Connecting."}
    on_answered: thanks
    on_no_answer: voicemail
    on_failed: sorry
  thanks: {hangup: "Thanks."}
  voicemail: {record: {say: "Leave a message."}, on_empty: sorry, next: thanks}
  sorry: {hangup: "Sorry."}
"""
)


def test_dial_rings_every_target_at_once() -> None:
    turn = Engine().start(DIAL, CALL)
    assert turn.instructions == (
        Say("Connecting."),
        Dial(
            targets=(
                DialTarget("number", "+15550001111"),
                DialTarget("number", "+15550003333"),
                DialTarget("sip", "sip:desk@pbx.example.com"),
                DialTarget("client", "alice"),
            ),
            timeout=12,
            caller_id="+15550009999",
        ),
    )


@pytest.mark.parametrize(
    ("status", "heard"),
    [
        ("answered", ["Thanks."]),
        ("no_answer", ["Leave a message."]),
        ("busy", ["Leave a message."]),  # no on_busy: falls back to on_no_answer
        ("failed", ["Sorry."]),
    ],
)
def test_dial_outcomes_take_their_branches(status: str, heard: list[str]) -> None:
    engine = Engine()
    turn = engine.start(DIAL, CALL)
    turn = engine.resume(DIAL, turn.state, DialFinished(status=status), CALL)  # type: ignore[arg-type]
    assert said(turn) == heard


def test_voicemail_keeps_the_recording_and_an_empty_one_takes_on_empty() -> None:
    engine = Engine()
    start = engine.start(DIAL, CALL)
    waiting = engine.resume(DIAL, start.state, DialFinished("no_answer"), CALL)
    saved = RunState.from_json(waiting.state.to_json())
    kept = engine.resume(DIAL, waiting.state, RecordingFinished("https://rec/1", 9), CALL)
    assert said(kept) == ["Thanks."]
    assert kept.state.facts["recordings"] == [{"url": "https://rec/1", "duration": 9}]
    empty = engine.resume(DIAL, saved, RecordingFinished(), CALL)
    assert said(empty) == ["Sorry."]


def test_branch_and_set_choose_by_variables_and_call_facts() -> None:
    workflow = flow(
        """
  main: {set: {tier: vip, member: true}, next: by_tier}
  by_tier: {branch: {on: vars.tier, cases: {vip: by_member}, else: plain}}
  by_member: {branch: {on: vars.member, cases: {"true": by_number}}, next: plain}
  by_number: {branch: {on: call.from, cases: {"+15550001111": known}, else: plain}}
  known: {play: "https://example.com/vip.wav", next: bye}
  plain: {say: "Plain.", next: bye}
  bye: {hangup: {}}
"""
    )
    turn = Engine().start(workflow, CALL)
    assert turn.instructions == (Play("https://example.com/vip.wav"), Hangup())
    assert turn.state.path == ["main", "by_tier", "by_member", "by_number", "known", "bye"]


def test_defaults_give_every_say_its_language_and_voice() -> None:
    workflow = flow(
        '  main: {say: "Hi.", next: ko}\n  ko: {say: {text: "안녕하세요", language: ko-KR}}',
        defaults="defaults: {language: en-GB, voice: Polly.Amy}",
    )
    assert Engine().start(workflow, CALL).instructions == (
        Say("Hi.", language="en-GB", voice="Polly.Amy"),
        Say("안녕하세요", language="ko-KR", voice="Polly.Amy"),
    )


def test_a_turn_that_never_waits_is_cut_off() -> None:
    workflow = flow(
        """
  main: {set: {again: true}, next: check}
  check: {branch: {on: vars.again, cases: {"true": main}}, next: bye}
  bye: {hangup: {}}
"""
    )
    with pytest.raises(StepLimitExceeded) as raised:
        Engine(step_limit=10).start(workflow, CALL)
    assert raised.value.state.path[:4] == ["main", "check", "main", "check"]


def test_a_finished_run_takes_no_more_replies() -> None:
    workflow = flow("  main: {hangup: {}}")
    turn = Engine().start(workflow, CALL)
    with pytest.raises(RunNotWaiting):
        Engine().resume(workflow, turn.state, DigitsReceived("1"), CALL)


def test_a_stored_definition_loads_back_to_the_same_version() -> None:
    for workflow in (MENU, DIAL):
        again = from_data(workflow.definition())
        assert again.digest == workflow.digest
        assert again.spec == workflow.spec
