"""How a call ended: the outcome decided from its final status and what its run went through,
and the post-call event each outcome raises."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.outcome import decide_outcome, outcome_event
from workflows.triggers import (
    CALL_AFTER_HOURS,
    CALL_ENDED,
    CALL_MISSED,
    CALL_OUTCOMES,
    TRIGGER_KINDS,
)

ANSWERED_DIAL = {"dials": [{"status": "answered"}], "agent": "+15550002000"}
MISSED_DIAL = {"dials": [{"status": "no_answer"}]}


@pytest.mark.parametrize(
    ("call_status", "run_status", "facts", "expected"),
    [
        pytest.param("completed", "completed", ANSWERED_DIAL, "ended", id="agent-answered"),
        pytest.param(
            "completed",
            "completed",
            {**ANSWERED_DIAL, "after_hours": True},
            "ended",
            id="agent-answered-wins-over-after-hours",
        ),
        pytest.param(
            "completed", "completed", {"after_hours": True}, "after_hours", id="after-hours"
        ),
        pytest.param(
            "completed",
            "completed",
            {"after_hours": True, **MISSED_DIAL},
            "after_hours",
            id="after-hours-wins-over-a-missed-dial",
        ),
        pytest.param("completed", "completed", MISSED_DIAL, "missed", id="dial-no-answer"),
        pytest.param(
            "completed", "completed", {"dials": [{"status": "busy"}]}, "missed", id="dial-busy"
        ),
        pytest.param(
            "completed",
            "completed",
            {"dials": [{"status": "failed"}]},
            "missed",
            id="dial-failed",
        ),
        pytest.param(
            "completed",
            "waiting",
            {"ringing": True},
            "missed",
            id="caller-hung-up-while-ringing",
        ),
        pytest.param("completed", "failed", {}, "missed", id="workflow-failed"),
        pytest.param("completed", "completed", {}, "self_service", id="ran-to-its-end"),
        pytest.param(
            "completed", "completed", {"ringing": False}, "self_service", id="ringing-false"
        ),
        pytest.param("completed", "waiting", {}, "abandoned", id="hung-up-in-a-menu"),
        pytest.param(
            "completed",
            "waiting",
            {"connect": {"team": "support", "result": "ringing"}},
            "missed",
            id="hung-up-in-the-hold-queue",
        ),
        pytest.param(
            "completed",
            "completed",
            {"connect": {"team": "support", "result": "answered"}, "agent": "bob"},
            "ended",
            id="connected-to-an-agent",
        ),
        pytest.param("completed", None, {}, "unrouted", id="no-workflow"),
        pytest.param("busy", None, {}, "missed", id="no-run-busy"),
        pytest.param("no-answer", None, {}, "missed", id="no-run-no-answer"),
        pytest.param("canceled", None, {}, "missed", id="no-run-canceled"),
        pytest.param("failed", None, {}, "missed", id="no-run-failed"),
        pytest.param("busy", "waiting", {}, "missed", id="run-waiting-but-never-connected"),
    ],
)
def test_decide_outcome(
    call_status: str, run_status: str | None, facts: dict[str, Any], expected: str
) -> None:
    assert decide_outcome(call_status, run_status, facts) == expected
    assert expected in CALL_OUTCOMES


@pytest.mark.parametrize(
    ("outcome", "event"),
    [
        ("missed", CALL_MISSED),
        ("ended", CALL_ENDED),
        ("after_hours", CALL_AFTER_HOURS),
        ("self_service", None),
        ("abandoned", None),
        ("unrouted", None),
        ("no-such-outcome", None),
    ],
)
def test_outcome_event(outcome: str, event: str | None) -> None:
    assert outcome_event(outcome) == event


def test_every_raised_event_starts_a_text_workflow() -> None:
    events = {outcome_event(outcome) for outcome in CALL_OUTCOMES} - {None}
    assert events == {"call.missed", "call.ended", "call.after_hours"}
    for event in events:
        assert event is not None
        assert TRIGGER_KINDS[event].channel == "sms"
