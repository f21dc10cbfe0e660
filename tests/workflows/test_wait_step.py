"""``wait``: its forms and their problems, when it ends (delays, times of day across midnight
and DST changes, the ``hours`` schedule opening), and a run waiting on it then going on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflows.engine import Engine, StepFailed
from workflows.events import DigitsReceived, TimerFired
from workflows.instructions import Say, WaitUntil
from workflows.loader import Workflow, from_text
from workflows.problems import WorkflowInvalid
from workflows.schedules import Schedule, ScheduleBook, parse_spec
from workflows.schedules.values import ScheduleValues
from workflows.steps.base import SMS, RunContext
from workflows.steps.wait import WaitParams, due

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "Europe/Berlin",
            "weekly": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        }
    )
)
BOOK = ScheduleBook({"office": OFFICE})
MONDAY = datetime(2026, 6, 1, tzinfo=BERLIN)  # a Monday
TEXT = {"from": "+15550001111", "to": "+15550002222"}


def sms_flow(steps: str, *, event: str = "sms.received", hours: str = "") -> Workflow:
    text = f"id: t\ntrigger: {{event: {event}}}\n{hours}\nstart: main\nsteps:\n{steps}"
    return from_text(text, "t.yaml")


def problems(steps: str, *, event: str = "sms.received") -> list[str]:
    with pytest.raises(WorkflowInvalid) as raised:
        sms_flow(steps, event=event)
    return raised.value.messages()


def params(step: str) -> WaitParams:
    """The wait parameters of a one-step SMS workflow (with business hours)."""
    value = sms_flow(f"  main: {{wait: {step}}}", hours="hours: office").spec.step("main").params
    assert isinstance(value, WaitParams)
    return value


def context(now: datetime, schedule: ScheduleValues | None = None) -> RunContext:
    roots: dict[str, Any] = {} if schedule is None else {"schedule": schedule}
    return RunContext(SMS, {}, {}, {}, TEXT, now=now, roots=roots)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two moments (Python subtracts wall clocks within one zone)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def office(now: datetime) -> ScheduleValues:
    return ScheduleValues(BOOK, "office", now, "en")


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "delay", "until", "timezone"),
    [
        ("10m", 600, None, None),
        ("{delay: 2h}", 7200, None, None),
        ("{delay: 90}", 90, None, None),
        ('{until: "09:00", timezone: Asia/Seoul}', None, "09:00", "Asia/Seoul"),
        ('{until: "9:30"}', None, "9:30", None),
        ("{until: open}", None, "open", None),
    ],
)
def test_valid_forms(step: str, delay: int | None, until: str | None, timezone: str | None) -> None:
    loaded = params(step)
    assert (loaded.delay, loaded.until, loaded.timezone) == (delay, until, timezone)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{}", "t.yaml:6 steps.main.wait: give either `delay` or `until`"),
        (
            '{delay: 10m, until: "09:00"}',
            "t.yaml:6 steps.main.wait: give either `delay` or `until`",
        ),
        (
            "10x",
            "t.yaml:6 steps.main.wait.delay: must be a duration such as 30s, 10m, 2h or 1d,"
            " not '10x'",
        ),
        (
            '{until: "09:00", timezone: Mars/Olympus}',
            "t.yaml:6 steps.main.wait.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            "{until: open, timezone: Asia/Seoul}",
            "t.yaml:6 steps.main.wait: `until: open` follows the schedule's own zone:"
            " drop `timezone`",
        ),
    ],
)
def test_invalid_forms(step: str, message: str) -> None:
    assert problems(f"  main: {{wait: {step}}}") == [message]


@pytest.mark.parametrize("until", ["24:00", "09:60", "9", "noon"])
def test_a_time_of_day_must_be_hh_mm(until: str) -> None:
    [message] = problems(f'  main: {{wait: {{until: "{until}"}}}}')
    assert message.startswith("t.yaml:6 steps.main.wait.until: ")


def test_a_call_workflow_cannot_wait() -> None:
    assert problems("  main: {wait: 10m}", event="call.incoming") == [
        "t.yaml:6 steps.main: a 'wait' step cannot run on voice"
    ]


def test_post_call_workflows_can_wait() -> None:
    assert sms_flow("  main: {wait: 10m}", event="call.missed").id == "t"


# --- when the wait ends --------------------------------------------------------------------


def test_a_delay_ends_that_long_after_now() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert due(params("10m"), context(now)) == now + timedelta(minutes=10)
    assert due(params("{delay: 2h}"), context(now)) == now + timedelta(hours=2)


def test_until_a_later_time_today() -> None:
    now = datetime(2026, 6, 1, 7, 0, tzinfo=SEOUL)
    ends = due(params('{until: "09:00", timezone: Asia/Seoul}'), context(now))
    assert ends == datetime(2026, 6, 1, 9, 0, tzinfo=SEOUL)


def test_until_a_time_already_past_waits_across_midnight() -> None:
    now = datetime(2026, 6, 1, 23, 0, tzinfo=SEOUL)
    ends = due(params('{until: "09:00", timezone: Asia/Seoul}'), context(now))
    assert ends == datetime(2026, 6, 2, 9, 0, tzinfo=SEOUL)
    assert elapsed(now, ends) == timedelta(hours=10)


def test_until_the_very_moment_now_waits_a_day() -> None:
    now = datetime(2026, 6, 1, 9, 0, tzinfo=SEOUL)
    ends = due(params('{until: "09:00", timezone: Asia/Seoul}'), context(now))
    assert ends == datetime(2026, 6, 2, 9, 0, tzinfo=SEOUL)


def test_until_reads_the_clock_in_its_zone_not_in_utc() -> None:
    # 23:30 UTC on 1 June is already 08:30 on 2 June in Seoul.
    now = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    ends = due(params('{until: "09:00", timezone: Asia/Seoul}'), context(now))
    assert ends == datetime(2026, 6, 2, 9, 0, tzinfo=SEOUL)
    assert elapsed(now, ends) == timedelta(minutes=30)


def test_until_without_a_zone_uses_the_hours_schedule_zone_else_utc() -> None:
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 08:00 in Berlin (UTC+2)
    step = params('{until: "09:00"}')
    assert due(step, context(now, office(now))) == datetime(2026, 6, 1, 9, 0, tzinfo=BERLIN)
    assert due(step, context(now)) == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_until_across_the_spring_change_in_new_york() -> None:
    # Clocks go from 02:00 EST to 03:00 EDT on Sunday 8 March 2026: that night is 23 h long.
    now = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    ends = due(params('{until: "09:00", timezone: America/New_York}'), context(now))
    assert ends == datetime(2026, 3, 8, 9, 0, tzinfo=NEW_YORK)
    assert ends.astimezone(UTC) == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    assert elapsed(now, ends) == timedelta(hours=20)


def test_until_a_time_the_change_skips_in_berlin() -> None:
    # 02:30 does not exist on 29 March 2026 in Berlin: it is read with the offset before the
    # change (UTC+1), which is 03:30 summer time.
    now = datetime(2026, 3, 28, 22, 0, tzinfo=BERLIN)
    ends = due(params('{until: "02:30", timezone: Europe/Berlin}'), context(now))
    assert ends.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert ends > now


def test_until_across_the_spring_change_in_berlin() -> None:
    now = datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN)  # UTC+1
    ends = due(params('{until: "09:00", timezone: Europe/Berlin}'), context(now))
    assert ends.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # UTC+2
    assert elapsed(now, ends) == timedelta(hours=12)


def test_until_open_waits_for_the_next_opening() -> None:
    now = MONDAY + timedelta(hours=20)
    ends = due(params("{until: open}"), context(now, office(now)))
    assert ends == MONDAY + timedelta(days=1, hours=9)


def test_until_open_while_open_ends_at_once() -> None:
    now = MONDAY + timedelta(hours=10)
    assert due(params("{until: open}"), context(now, office(now))) == now


def test_until_open_over_a_weekend() -> None:
    friday_evening = MONDAY + timedelta(days=4, hours=19)
    ends = due(params("{until: open}"), context(friday_evening, office(friday_evening)))
    assert ends == MONDAY + timedelta(days=7, hours=9)


def test_until_open_needs_a_schedule() -> None:
    now = MONDAY + timedelta(hours=20)
    with pytest.raises(ValueError, match="hours"):
        due(params("{until: open}"), context(now))  # no schedule values given at run time
    # ... and a workflow without `hours` is refused when it is loaded.
    assert problems("  main: {wait: {until: open}}") == [
        "t.yaml:6 steps.main: needs the workflow's business hours: add `hours:`"
    ]


# --- through the engine --------------------------------------------------------------------

FOLLOW_UP = sms_flow(
    """
  main: {say: "We will get back to you.", next: later}
  later: {wait: 2h, next: again}
  again: {say: "Still need help?"}
"""
)


def test_a_run_waits_then_goes_on_when_the_timer_fires() -> None:
    engine = Engine()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    first = engine.start(FOLLOW_UP, TEXT, now=now)
    assert first.instructions == (
        Say("We will get back to you."),
        WaitUntil(now + timedelta(hours=2)),
    )
    assert first.state.status == "waiting"
    assert first.state.cursor == "later"

    later = now + timedelta(hours=2)
    second = engine.resume(FOLLOW_UP, first.state, TimerFired(), TEXT, now=later)
    assert second.instructions == (Say("Still need help?"),)
    assert second.finished
    assert second.state.path == ["main", "later", "again"]


def test_a_reply_does_not_end_the_wait() -> None:
    engine = Engine()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    first = engine.start(FOLLOW_UP, TEXT, now=now)
    with pytest.raises(StepFailed):
        engine.resume(FOLLOW_UP, first.state, DigitsReceived(speech="hello"), TEXT, now=now)


def test_a_wait_until_open_reads_the_workflow_schedule() -> None:
    workflow = sms_flow(
        '  main: {wait: {until: open}, next: hi}\n  hi: {say: "We are open."}',
        hours="hours: office",
    )
    now = MONDAY + timedelta(hours=20)
    turn = Engine().start(workflow, TEXT, now=now, roots={"schedule": office(now)})
    assert turn.instructions == (WaitUntil(MONDAY + timedelta(days=1, hours=9)),)
    assert not turn.finished
