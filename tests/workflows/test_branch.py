"""``branch`` with filters: the same language as a trigger's ``when`` (schedules, contact
attributes, keywords of the text answered...), the first match wins, ``else`` otherwise;
``on``/``cases`` keep working; schedules a branch names are checked at install."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.clock import MONDAY, next_weekday_at, on_day_at
from workflows.catalog import compile_trigger
from workflows.engine import Engine
from workflows.instructions import Say
from workflows.loader import Workflow, from_text
from workflows.problems import WorkflowInvalid
from workflows.schedules import Schedule, ScheduleBook, parse_spec

OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "Europe/Berlin",
            "weekly": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        }
    )
)
BOOK = ScheduleBook({"office": OFFICE})
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), BERLIN)
MONDAY_20 = on_day_at(MONDAY_10, 0, time(20, 0))
CALL = {"sid": "CA1", "from": "+14155550123", "to": "+15005550001"}


SAYINGS = {
    "vip": "VIP line.",
    "open": "We are open.",
    "refund": "Refunds.",
    "closed": "We are closed.",
}


def flow(branch: str, event: str = "call.incoming") -> Workflow:
    """A workflow that branches at ``route`` to the steps ``branch`` names, each saying so."""
    named = [name for name in SAYINGS if re.search(rf"\b{name}\b", branch)]
    steps = "".join(f'  {name}: {{say: "{SAYINGS[name]}"}}\n' for name in named)
    text = f"""
id: t
trigger: {{event: {event}}}
start: route
steps:
  route:
    branch:
{branch}
{steps}"""
    return from_text(text, "t.yaml")


CHOICES = flow(
    """
      choices:
        - when: {contact: {attribute: tier, eq: VIP}}
          next: vip
        - when: {all: [{open: office}, {not: {keywords: [refund]}}]}
          next: open
        - when: {keywords: [refund]}
          next: refund
      else: closed
"""
)


def said(workflow: Workflow, now: datetime, **roots: Any) -> list[str]:
    turn = Engine().start(workflow, CALL, now=now, roots=roots, schedules=BOOK.view())
    return [i.text for i in turn.instructions if isinstance(i, Say)]


def test_the_first_matching_filter_picks_the_step() -> None:
    assert said(CHOICES, MONDAY_10, contact={"tier": "VIP"}) == ["VIP line."]
    assert said(CHOICES, MONDAY_10, contact={"tier": "Basic"}) == ["We are open."]
    assert said(CHOICES, MONDAY_20) == ["We are closed."]


def test_a_text_being_answered_is_what_keywords_look_at() -> None:
    texted = flow(
        """
      choices:
        - when: {keywords: [refund]}
          next: refund
      else: closed
""",
        event="sms.received",
    )
    message = {"body": "I want a REFUND please", "sid": "SM1"}
    assert said(texted, MONDAY_20, message=message) == ["Refunds."]
    assert said(texted, MONDAY_20, message={"body": "hi", "sid": "SM2"}) == ["We are closed."]


def test_without_else_a_branch_with_no_match_follows_next() -> None:
    workflow = flow(
        """
      choices:
        - when: {open: office}
          next: open
    next: closed
"""
    )
    assert said(workflow, MONDAY_20) == ["We are closed."]
    assert said(workflow, MONDAY_10) == ["We are open."]


def test_cases_on_a_variable_still_work() -> None:
    workflow = flow(
        """
      on: contact.tier
      cases: {VIP: vip}
      else: closed
"""
    )
    assert said(workflow, MONDAY_10, contact={"tier": "VIP"}) == ["VIP line."]
    assert said(workflow, MONDAY_10, contact={}) == ["We are closed."]


@pytest.mark.parametrize(
    ("branch", "message"),
    [
        ("      else: closed", "branch needs `on` with `cases`, or `choices`"),
        (
            "      on: vars.x\n      cases: {a: vip}\n"
            "      choices: [{when: {open: office}, next: open}]",
            "not both",
        ),
    ],
)
def test_a_branch_takes_one_of_the_two_forms(branch: str, message: str) -> None:
    with pytest.raises(WorkflowInvalid, match=message):
        flow(branch)


def test_a_bad_filter_in_a_branch_is_refused_when_loaded() -> None:
    with pytest.raises(WorkflowInvalid, match="route"):
        flow("      choices: [{when: {nonsense: 1}, next: open}]")


def test_a_schedule_a_branch_names_must_exist_at_install() -> None:
    workflow = flow("      choices: [{when: {open: ofice}, next: open}]\n      else: closed")
    with pytest.raises(WorkflowInvalid) as raised:
        compile_trigger(workflow, BOOK.names)
    (problem,) = raised.value.problems
    assert problem.path == ("steps", "route", "branch", "choices", 0, "when", "open")
    assert "unknown schedule 'ofice'" in problem.message
