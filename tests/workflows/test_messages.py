"""Validation messages say what is wrong in the author's terms, once, at the right path."""

from __future__ import annotations

import pytest

from workflows.loader import from_text
from workflows.problems import WorkflowInvalid

HEAD = "id: t\ntrigger: {event: call.incoming}\nstart: main\nsteps:\n"


def problems(steps: str) -> list[str]:
    with pytest.raises(WorkflowInvalid) as raised:
        from_text(HEAD + steps, "t.yaml")
    return raised.value.messages()


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (
            "  main: {pause: true}\n",
            ["t.yaml:5 steps.main.pause.seconds: Input should be a valid integer"],
        ),
        (
            '  main: {pause: "2"}\n',
            ["t.yaml:5 steps.main.pause.seconds: Input should be a valid integer"],
        ),
        (
            '  main: {record: {beep: "yes"}}\n',
            ["t.yaml:5 steps.main.record.beep: Input should be a valid boolean"],
        ),
        (
            "  main: {set: {tier: [a, b]}}\n",
            ["t.yaml:5 steps.main.set.values.tier: must be text, a number, true, false or null"],
        ),
        (
            "  main: {set: {}}\n",
            [
                "t.yaml:5 steps.main.set.values:"
                " Dictionary should have at least 1 item after validation, not 0"
            ],
        ),
        (
            '  main: {menu: {say: "Pick.", options: {"1x": main}}}\n',
            [
                "t.yaml:5 steps.main.menu.options.1x: bad key:"
                " must be 1 to 8 phone keys: digits, * or #"
            ],
        ),
        (
            '  main: {dial: "5550001111"}\n',
            [
                "t.yaml:5 steps.main.dial.number:"
                " must be a phone number in E.164 form, such as +15550001111"
            ],
        ),
    ],
    ids=["bool-seconds", "text-seconds", "text-bool", "set-list", "set-empty", "bad-key", "e164"],
)
def test_messages(steps: str, expected: list[str]) -> None:
    assert problems(steps) == expected


def test_a_hash_option_can_be_chosen() -> None:
    from workflows.engine import Engine
    from workflows.events import DigitsReceived
    from workflows.instructions import Gather

    workflow = from_text(
        HEAD
        + '  main: {menu: {say: "Press # to hear this again.", options: {"#": main, "1": bye}}}\n'
        "  bye: {hangup: {}}\n",
        "t.yaml",
    )
    engine = Engine()
    turn = engine.start(workflow, {})
    gather = turn.instructions[-1]
    assert isinstance(gather, Gather)
    assert gather.finish_on_key == ""
    again = engine.resume(workflow, turn.state, DigitsReceived("#"), {})
    assert again.state.path == ["main", "main"]
