"""Timer triggers counted in business hours: the open time of a schedule, across lunch
breaks, nights and weekends; a schedule that never opens or is unknown counts wall time."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from tests.clock import FRIDAY, MONDAY, next_weekday_at
from workflows.automations.timers import due_at, open_time_after
from workflows.schedules import Schedule, ScheduleBook, parse_spec
from workflows.triggers import NO_AGENT_REPLY, NO_CUSTOMER_REPLY, UNANSWERED

SEOUL = ZoneInfo("Asia/Seoul")
OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "Asia/Seoul",
            "weekly": {
                day: ["09:00-12:00", "13:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")
            },
        }
    )
)
BOOK = ScheduleBook({"office": OFFICE, "never": Schedule(parse_spec({"timezone": "UTC"}))})
MINUTES = 60


def test_open_time_within_one_window() -> None:
    start = next_weekday_at(MONDAY, time(10, 0), SEOUL)
    assert open_time_after(BOOK, "office", start, 30 * MINUTES) == start + timedelta(minutes=30)


def test_open_time_skips_the_lunch_break_and_the_weekend() -> None:
    before_lunch = next_weekday_at(MONDAY, time(11, 50), SEOUL)
    assert open_time_after(BOOK, "office", before_lunch, 30 * MINUTES) == before_lunch.replace(
        hour=13, minute=20
    )
    friday_evening = next_weekday_at(FRIDAY, time(17, 45), SEOUL)
    monday = next_weekday_at(MONDAY, time(9, 15), SEOUL, after=friday_evening)
    assert open_time_after(BOOK, "office", friday_evening, 30 * MINUTES) == monday


def test_a_start_while_closed_counts_from_the_opening() -> None:
    night = next_weekday_at(MONDAY, time(22, 0), SEOUL)
    morning = night.replace(hour=9, minute=10) + timedelta(days=1)
    assert open_time_after(BOOK, "office", night, 10 * MINUTES) == morning


def test_never_open_or_unknown_schedules_fall_back_to_wall_time() -> None:
    start = next_weekday_at(MONDAY, time(10, 0), SEOUL)
    assert open_time_after(BOOK, "never", start, 60) is None
    assert open_time_after(BOOK, "nope", start, 60) is None
    assert due_at(NO_AGENT_REPLY, BOOK, "never", start, 60) == start + timedelta(minutes=1)


def test_only_agent_response_timers_count_business_hours() -> None:
    friday_evening = next_weekday_at(FRIDAY, time(17, 45), SEOUL)
    assert due_at(UNANSWERED, BOOK, "office", friday_evening, 30 * MINUTES).weekday() == 0
    assert due_at(NO_CUSTOMER_REPLY, BOOK, "office", friday_evening, 30 * MINUTES) == (
        friday_evening + timedelta(minutes=30)
    )
    assert due_at(NO_AGENT_REPLY, BOOK, None, friday_evening, 60) == friday_evening + timedelta(
        minutes=1
    )
