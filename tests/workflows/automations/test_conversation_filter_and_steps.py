"""The `conversation` filter and the conversation steps as a workflow file states them: what
passes, what a bad value says, and that conversation steps only run where conversations are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from workflows.conditions import FilterContext, FilterInvalid, compile_filter, explain, parse_filter
from workflows.loader import from_text
from workflows.problems import WorkflowInvalid

NOW = datetime.now(UTC)
STATE: dict[str, Any] = {
    "status": "open",
    "priority": "urgent",
    "assignee": None,
    "team": "billing",
    "tags": ["vip", "refund"],
    "answered": False,
}


def matches(spec: Any, state: dict[str, Any] | None = STATE) -> bool:
    check = compile_filter(parse_filter(spec), [])
    return check(FilterContext(now=NOW, channel="sms", conversation=state))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"conversation": {"status": "open"}}, True),
        ({"conversation": {"status": ["snoozed", "closed"]}}, False),
        ({"conversation": {"priority": ["urgent", "high"], "answered": False}}, True),
        ({"conversation": {"assignee": "none", "team": "billing"}}, True),
        ({"conversation": {"assignee": "alice"}}, False),
        ({"conversation": {"tags": ["vip", "refund"]}}, True),
        ({"conversation": {"tags": ["vip", "billing"]}}, False),
        ({"conversation": {"answered": True}}, False),
        ({"not": {"conversation": {"team": "none"}}}, True),
    ],
)
def test_the_conversation_filter(spec: Any, expected: bool) -> None:
    assert matches(spec) is expected


def test_an_event_without_a_conversation_never_matches() -> None:
    spec = {"conversation": {"status": "open"}}
    assert matches(spec, None) is False
    ctx = FilterContext(now=NOW, channel="voice")
    assert explain(parse_filter(spec), ctx) == ["when.conversation: no conversation"]


def test_explain_names_what_does_not_hold() -> None:
    spec = parse_filter({"conversation": {"priority": "low", "tags": ["billing"]}})
    ctx = FilterContext(now=NOW, channel="sms", conversation=STATE)
    assert explain(spec, ctx) == [
        "when.conversation: conversation priority is 'urgent', not low; lacks the tags billing"
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"conversation": {}},
        {"conversation": {"status": "pending"}},
        {"conversation": {"priority": "critical"}},
        {"conversation": {"tags": ["has space"]}},
        {"conversation": {"answered": "yes"}},
    ],
)
def test_bad_conversation_filters_are_refused(spec: Any) -> None:
    with pytest.raises(FilterInvalid) as caught:
        parse_filter(spec)
    assert caught.value.problems


STEPS = """
id: conversation-steps
trigger: {event: conversation.opened}
start: reply
steps:
  reply: {reply: "Hi {{contact.name | there}}, you are {{conversation.priority}}.", next: note}
  note: {note: "Opened.", next: assign}
  assign: {assign: support, next: prio}
  prio: {set_priority: high, next: tag}
  tag: {tag: new, next: untag}
  untag: {untag: old, next: snooze}
  snooze: {snooze: 4h, next: close}
  close: {close: {}}
"""


def test_every_conversation_step_loads() -> None:
    spec = from_text(STEPS, "steps.yaml").spec
    assert [step.kind_name for step in spec.steps.values()] == [
        "reply",
        "note",
        "assign",
        "set_priority",
        "tag",
        "untag",
        "snooze",
        "close",
    ]
    assert spec.step("snooze").params.model_dump() == {"duration": 4 * 3600}
    assert spec.step("assign").params.model_dump() == {"team": "support", "agent": None}


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ("assign: {}", "name a `team`, an `agent` or both"),
        ("snooze: 0", "more than 0"),
        ('tag: "two words"', "tag"),
        ('reply: "{{nope.x}}"', "nope"),
        ("set_priority: critical", "priority"),
    ],
)
def test_bad_conversation_steps_are_refused(step: str, problem: str) -> None:
    text = f"""
id: bad
trigger: {{event: conversation.opened}}
start: only
steps:
  only: {{{step}}}
"""
    with pytest.raises(WorkflowInvalid) as caught:
        from_text(text, "bad.yaml")
    assert problem in str(caught.value)


def test_conversation_steps_do_not_run_on_calls() -> None:
    text = """
id: voice
trigger: {event: call.incoming}
start: note
steps:
  note: {note: "A call."}
"""
    with pytest.raises(WorkflowInvalid) as caught:
        from_text(text, "voice.yaml")
    assert "cannot run on voice" in str(caught.value)


def _with_trigger(trigger: str) -> str:
    return f"id: t\nstart: n\nsteps:\n  n: {{note: x}}\ntrigger: {trigger}\n"


def test_timer_triggers_need_after_and_others_refuse_it() -> None:
    without = _with_trigger("{event: unanswered}")
    with pytest.raises(WorkflowInvalid) as caught:
        from_text(without, "a.yaml")
    assert "needs `after`" in str(caught.value)
    misplaced = _with_trigger("{event: message.received, after: 5m}")
    with pytest.raises(WorkflowInvalid) as caught:
        from_text(misplaced, "b.yaml")
    assert "only timer triggers take `after`" in str(caught.value)
    ok = _with_trigger("{event: unanswered, after: 30m}")
    assert from_text(ok, "c.yaml").spec.trigger.after == 1800
