"""The ``callback`` step's format: the short spelling, its defaults and limits, and what it
hands the channel (a confirmation and the request, recorded with the turn)."""

from __future__ import annotations

import pytest

from tests.conftest import workflow
from workflows.instructions import RequestCallback, Say
from workflows.problems import WorkflowInvalid
from workflows.steps.base import RunContext
from workflows.steps.callback import CONFIRMATION, KIND, CallbackParams


def _line(step: str) -> str:
    return f"id: line\ntrigger: {{event: call.incoming}}\nstart: ask\nsteps:\n  ask:\n    {step}\n"


def test_the_short_spelling_names_the_team_with_the_defaults() -> None:
    loaded = workflow(_line("callback: support"))
    params = loaded.spec.steps["ask"].callback  # type: ignore[attr-defined]
    assert (params.team, params.attempts, params.retry_delay, params.say) == (
        "support",
        3,
        600,
        CONFIRMATION,
    )


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ("callback: {team: support, retry_delay: 5s}", "retry_delay must be between 30s and 1d"),
        ("callback: {team: support, attempts: 11}", "attempts"),
        ('callback: {team: "no such team!"}', "team"),
        ("callback: {team: support, when: later}", "when"),
    ],
)
def test_bad_parameters_are_refused_with_their_path(step: str, words: str) -> None:
    with pytest.raises(WorkflowInvalid) as refused:
        workflow(_line(step))
    assert words in str(refused.value)


def test_it_confirms_and_hands_the_request_to_the_channel() -> None:
    params = CallbackParams(team="support", attempts=2, retry_delay=120, say="Noted.")
    ctx = RunContext(channel="voice", vars={}, step_state={}, facts={}, call={"from": "+1"})
    KIND.enter(params, ctx)
    assert ctx.instructions == [Say("Noted."), RequestCallback("support", 2, 120)]
    assert ctx.facts["callback"] == "support"
