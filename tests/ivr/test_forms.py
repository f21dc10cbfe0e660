"""Parsing Twilio voice webhook forms."""

from __future__ import annotations

import pytest

from ivr.forms import OFFERED, RUNG, CallFields, FormError, parse_reply, status_rank
from workflows.events import (
    AgentsUnavailable,
    DialFinished,
    DigitsReceived,
    InputTimedOut,
    QueueLeft,
    RecordingFinished,
)


def test_call_fields_with_anonymous_caller() -> None:
    call = CallFields.parse({"CallSid": "CA1", "From": "", "To": "+15550001111"})
    assert (call.sid, call.caller, call.called, call.status) == (
        "CA1",
        "anonymous",
        "+15550001111",
        "in-progress",
    )


def test_a_form_without_call_sid_is_refused() -> None:
    with pytest.raises(FormError, match="CallSid"):
        CallFields.parse({"From": "+15550001111"})


@pytest.mark.parametrize(
    ("form", "reply"),
    [
        ({"Digits": "1"}, DigitsReceived("1")),
        ({"SpeechResult": "billing", "Confidence": "0.8"}, DigitsReceived(speech="billing")),
        ({}, InputTimedOut()),
        ({"Digits": ""}, InputTimedOut()),
    ],
)
def test_gather_replies(form: dict[str, str], reply: object) -> None:
    assert parse_reply("gather", form) == reply


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("completed", "answered"),
        ("answered", "answered"),
        ("busy", "busy"),
        ("no-answer", "no_answer"),
        ("failed", "failed"),
        ("canceled", "failed"),
    ],
)
def test_dial_statuses(status: str, outcome: str) -> None:
    reply = parse_reply("dial", {"DialCallStatus": status, "DialCallDuration": "12"})
    assert reply == DialFinished(status=outcome, duration=12)  # type: ignore[arg-type]


def test_bad_dial_forms_are_refused() -> None:
    with pytest.raises(FormError, match="DialCallStatus"):
        parse_reply("dial", {})
    with pytest.raises(FormError, match="unknown DialCallStatus"):
        parse_reply("dial", {"DialCallStatus": "exploded"})
    with pytest.raises(FormError, match="DialCallDuration"):
        parse_reply("dial", {"DialCallStatus": "completed", "DialCallDuration": "ten"})


def test_recordings() -> None:
    form = {"RecordingUrl": "https://rec/RE1", "RecordingDuration": "14"}
    assert parse_reply("record", form) == RecordingFinished("https://rec/RE1", 14)
    assert parse_reply("record", {}) == RecordingFinished()


def test_statuses_are_ordered() -> None:
    assert status_rank("ringing") < status_rank("in-progress") < status_rank("completed")
    assert status_rank("weird") == -1


def test_a_team_ring_and_the_hold_queue_replies() -> None:
    rung = parse_reply("dial", {"DialCallStatus": "no-answer", RUNG: "alice,bob"})
    assert rung == DialFinished(status="no_answer", rung=("alice", "bob"))
    assert parse_reply("connect", {}) == AgentsUnavailable()
    assert parse_reply("queue", {"QueueResult": "leave"}) == QueueLeft("left")
    assert parse_reply("queue", {"QueueResult": "hangup"}) == QueueLeft("hangup")
    assert parse_reply("queue", {"QueueResult": "system-error"}) == QueueLeft("error")
    offered = parse_reply("queue", {OFFERED: "carol"})
    assert offered == QueueLeft("offered", agent="carol")
