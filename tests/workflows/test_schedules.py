"""Business hours: windows in local wall-clock time, DST, holidays, overrides, wording."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from workflows.schedules import (
    WEEKDAYS,
    ManualOverride,
    Schedule,
    ScheduleInvalid,
    ScheduleStatus,
    describe_next_open,
    parse_spec,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SEOUL = ZoneInfo("Asia/Seoul")
WEEKDAYS_9_TO_5 = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
WEEKDAYS_9_TO_6 = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def schedule(timezone: str, **fields: Any) -> Schedule:
    return Schedule(parse_spec({"timezone": timezone, **fields}))


def problems(data: Any) -> list[str]:
    with pytest.raises(ScheduleInvalid) as raised:
        parse_spec(data)
    return raised.value.messages()


def utc(at: datetime | None) -> datetime:
    assert at is not None
    return at.astimezone(UTC)


def hours(interval: tuple[datetime, datetime]) -> float:
    return (interval[1] - interval[0]) / timedelta(hours=1)


# --- the format -------------------------------------------------------------------------------

EXAMPLE = """
timezone: Europe/Berlin
weekly:
  mon: ["09:00-12:30", "13:30-18:00"]
  fri: ["09:00-17:00"]
  sat: ["22:00-02:00"]
holidays: ["2026-12-25", 2026-12-26]
dates:
  "2026-12-24": ["09:00-12:00"]
  2026-12-31: []
"""


def test_yaml_example_parses_and_dumps_as_written() -> None:
    spec = parse_spec(yaml.safe_load(EXAMPLE))
    assert spec.model_dump(mode="json") == {
        "timezone": "Europe/Berlin",
        "weekly": {
            "mon": ["09:00-12:30", "13:30-18:00"],
            "fri": ["09:00-17:00"],
            "sat": ["22:00-02:00"],
        },
        "holidays": ["2026-12-25", "2026-12-26"],
        "dates": {"2026-12-24": ["09:00-12:00"], "2026-12-31": []},
        "quiet_hours": [],
    }


def test_windows_are_sorted_and_24_00_ends_at_midnight() -> None:
    spec = parse_spec({"timezone": "UTC", "weekly": {"mon": ["20:00-24:00", "00:00-03:00"]}})
    assert [str(window) for window in spec.weekly["mon"]] == ["00:00-03:00", "20:00-24:00"]
    assert spec.weekly["mon"][1].stop == 24 * 60


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"timezone": "Europe/Berln"}, "timezone: unknown time zone 'Europe/Berln'"),
        ({"timezone": "Europe"}, "timezone: unknown time zone 'Europe'"),
        ({}, "timezone: required"),
        ({"timezone": "UTC", "hours": {}}, "hours: unknown key"),
        (
            {"timezone": "UTC", "weekly": {"mnd": []}},
            "weekly.mnd: unknown weekday 'mnd': use mon, tue, wed, thu, fri, sat or sun",
        ),
        (
            {"timezone": "UTC", "weekly": {"mon": ["25:00-26:00"]}},
            "weekly.mon.0: bad time '25:00': use 00:00 to 23:59, or 24:00 as an end",
        ),
        (
            {"timezone": "UTC", "weekly": {"mon": ["09:00-17:60"]}},
            "weekly.mon.0: bad time '17:60': use 00:00 to 23:59, or 24:00 as an end",
        ),
        (
            {"timezone": "UTC", "weekly": {"mon": ["24:00-02:00"]}},
            "weekly.mon.0: bad time '24:00': 24:00 can only end a window",
        ),
        (
            {"timezone": "UTC", "weekly": {"tue": ["08:00-12:00", "9 to 5"]}},
            "weekly.tue.1: must be a window such as '09:00-17:00', not '9 to 5'",
        ),
        (
            {"timezone": "UTC", "weekly": {"tue": [900]}},
            "weekly.tue.0: must be a window such as '09:00-17:00', not 900",
        ),
        (
            {"timezone": "UTC", "weekly": {"wed": ["09:00-09:00"]}},
            "weekly.wed.0: window '09:00-09:00' starts and ends at the same time"
            " (use 00:00-24:00 for a whole day)",
        ),
        (
            {"timezone": "UTC", "weekly": {"thu": ["09:00-12:30", "12:00-18:00"]}},
            "weekly.thu: windows '09:00-12:30' and '12:00-18:00' overlap",
        ),
        (
            {"timezone": "UTC", "weekly": {"sat": ["22:00-02:00", "01:00-23:00"]}},
            "weekly.sat: windows '01:00-23:00' and '22:00-02:00' overlap",
        ),
        (
            {"timezone": "UTC", "weekly": {"fri": "09:00-17:00"}},
            "weekly.fri: must be a list of windows such as ['09:00-17:00']",
        ),
        (
            {"timezone": "UTC", "holidays": ["2026-02-30"]},
            "holidays.0: bad date '2026-02-30': must be a real date written YYYY-MM-DD",
        ),
        (
            {"timezone": "UTC", "holidays": ["12/25/2026"]},
            "holidays.0: bad date '12/25/2026': must be a real date written YYYY-MM-DD",
        ),
        (
            {"timezone": "UTC", "holidays": "2026-12-25"},
            "holidays: must be a list of dates such as ['2026-12-25']",
        ),
        (
            {"timezone": "UTC", "dates": {"2026-13-01": []}},
            "dates.2026-13-01: bad date '2026-13-01': must be a real date written YYYY-MM-DD",
        ),
        (
            {"timezone": "UTC", "dates": {"2026-12-24": ["14:00-12:00", "13:00-15:00"]}},
            "dates.2026-12-24: windows '13:00-15:00' and '14:00-12:00' overlap",
        ),
        (
            {"timezone": "UTC", "holidays": ["2026-12-25"], "dates": {"2026-12-25": []}},
            "dates: 2026-12-25 is both in holidays and in dates: keep one",
        ),
    ],
)
def test_validation_messages(data: Any, expected: str) -> None:
    assert problems(data) == [expected]


def test_every_problem_is_reported_with_the_source() -> None:
    with pytest.raises(ScheduleInvalid) as raised:
        parse_spec({"timezone": "Mars/Olympus", "weekly": {"mon": ["9-5"]}}, "hours.yaml")
    assert raised.value.messages() == [
        "hours.yaml timezone: unknown time zone 'Mars/Olympus'",
        "hours.yaml weekly.mon.0: must be a window such as '09:00-17:00', not '9-5'",
    ]


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        schedule("UTC").is_open(datetime(2026, 6, 1, 12))


# --- weekly windows ---------------------------------------------------------------------------

SPLIT = schedule("Europe/Berlin", weekly={"mon": ["09:00-12:30", "13:30-18:00"]})


@pytest.mark.parametrize(
    ("clock", "is_open"),
    [
        ((8, 59), False),
        ((9, 0), True),
        ((12, 29), True),
        ((12, 30), False),
        ((13, 0), False),
        ((13, 30), True),
        ((17, 59), True),
        ((18, 0), False),
    ],
)
def test_split_shift_is_closed_at_lunch(clock: tuple[int, int], is_open: bool) -> None:
    assert SPLIT.is_open(datetime(2026, 6, 1, *clock, tzinfo=BERLIN)) is is_open


def test_split_shift_changes_and_reopens_after_lunch() -> None:
    assert SPLIT.next_change(datetime(2026, 6, 1, 10, tzinfo=BERLIN)) == datetime(
        2026, 6, 1, 12, 30, tzinfo=BERLIN
    )
    lunch = datetime(2026, 6, 1, 12, 45, tzinfo=BERLIN)
    assert (
        SPLIT.next_change(lunch)
        == SPLIT.next_open(lunch)
        == datetime(2026, 6, 1, 13, 30, tzinfo=BERLIN)
    )
    assert SPLIT.next_change(datetime(2026, 6, 1, 18, tzinfo=BERLIN)) == datetime(
        2026, 6, 8, 9, tzinfo=BERLIN
    )


def test_any_zone_in_the_schedules_zone_out() -> None:
    at = datetime(2026, 6, 1, 8, tzinfo=UTC)  # 10:00 in Berlin
    assert SPLIT.is_open(at)
    change = SPLIT.next_change(at)
    assert change is not None
    assert change.tzinfo is BERLIN
    assert (change.hour, change.minute) == (12, 30)
    assert SPLIT.next_open(at) == at
    assert SPLIT.next_open(at).tzinfo is BERLIN  # type: ignore[union-attr]


def test_seoul_has_no_dst_and_a_lunch_break() -> None:
    seoul = schedule(
        "Asia/Seoul", weekly={**WEEKDAYS_9_TO_6, "tue": ["09:00-12:00", "13:00-18:00"]}
    )
    at = datetime(2026, 6, 2, 3, 30, tzinfo=UTC)  # Tuesday 12:30 in Seoul
    assert not seoul.is_open(at)
    assert seoul.next_change(at) == datetime(2026, 6, 2, 4, tzinfo=UTC)
    assert seoul.next_change(at).utcoffset() == timedelta(hours=9)  # type: ignore[union-attr]
    intervals = [seoul.intervals_on(date(2026, month, 2)) for month in (1, 3, 7, 11)]
    assert {hours(day[0]) for day in intervals if day} == {9.0}


def test_a_window_crossing_midnight_ends_the_next_day() -> None:
    bar = schedule("Europe/Berlin", weekly={"sat": ["22:00-02:00"]})
    assert bar.is_open(datetime(2026, 6, 6, 23, tzinfo=BERLIN))
    assert bar.is_open(datetime(2026, 6, 7, 1, 59, tzinfo=BERLIN))
    assert not bar.is_open(datetime(2026, 6, 7, 2, tzinfo=BERLIN))
    assert not bar.is_open(datetime(2026, 6, 6, 1, tzinfo=BERLIN))  # Friday night: not open
    assert bar.next_change(datetime(2026, 6, 6, 23, tzinfo=BERLIN)) == datetime(
        2026, 6, 7, 2, tzinfo=BERLIN
    )


def test_windows_that_touch_across_midnight_make_one_opening() -> None:
    late = schedule("Europe/Berlin", weekly={"fri": ["18:00-24:00"], "sat": ["00:00-03:00"]})
    friday = datetime(2026, 6, 5, 20, tzinfo=BERLIN)
    assert late.next_change(friday) == datetime(2026, 6, 6, 3, tzinfo=BERLIN)
    overlap = schedule("Europe/Berlin", weekly={"fri": ["18:00-04:00"], "sat": ["01:00-06:00"]})
    assert overlap.next_change(friday) == datetime(2026, 6, 6, 6, tzinfo=BERLIN)


# --- holidays and special dates ---------------------------------------------------------------


def test_a_holiday_closes_the_windows_starting_that_day_only() -> None:
    weekly = {"fri": ["22:00-02:00"], "sat": ["10:00-12:00"]}
    saturday_off = schedule("Europe/Berlin", weekly=weekly, holidays=["2026-06-06"])
    assert saturday_off.is_open(datetime(2026, 6, 6, 1, tzinfo=BERLIN))  # Friday's window
    assert not saturday_off.is_open(datetime(2026, 6, 6, 10, 30, tzinfo=BERLIN))
    friday_off = schedule("Europe/Berlin", weekly=weekly, holidays=["2026-06-05"])
    assert not friday_off.is_open(datetime(2026, 6, 5, 23, tzinfo=BERLIN))
    assert not friday_off.is_open(datetime(2026, 6, 6, 1, tzinfo=BERLIN))
    assert friday_off.is_open(datetime(2026, 6, 6, 10, 30, tzinfo=BERLIN))


def test_special_dates_replace_the_weekly_windows() -> None:
    shop = schedule(
        "Europe/Berlin",
        weekly=WEEKDAYS_9_TO_6,
        holidays=["2027-01-01"],
        dates={"2026-12-24": ["09:00-12:00"], "2026-12-30": [], "2026-12-31": ["20:00-02:00"]},
    )
    assert shop.is_open(datetime(2026, 12, 24, 11, tzinfo=BERLIN))
    assert not shop.is_open(datetime(2026, 12, 24, 13, tzinfo=BERLIN))
    assert not shop.is_open(datetime(2026, 12, 30, 10, tzinfo=BERLIN))
    assert not shop.is_open(datetime(2026, 12, 31, 10, tzinfo=BERLIN))
    assert shop.is_open(datetime(2027, 1, 1, 1, tzinfo=BERLIN))  # the party runs into the holiday
    assert shop.next_open(datetime(2027, 1, 1, 3, tzinfo=BERLIN)) == datetime(
        2027, 1, 4, 9, tzinfo=BERLIN
    )


def test_next_open_skips_the_weekend_and_a_holiday() -> None:
    easter = schedule(
        "Europe/Berlin", weekly=WEEKDAYS_9_TO_5, holidays=["2026-04-03", "2026-04-06"]
    )
    thursday = datetime(2026, 4, 2, 16, tzinfo=BERLIN)
    assert easter.next_change(thursday) == datetime(2026, 4, 2, 17, tzinfo=BERLIN)
    assert easter.next_open(thursday) == thursday
    tuesday = datetime(2026, 4, 7, 9, tzinfo=BERLIN)
    evening = datetime(2026, 4, 2, 18, tzinfo=BERLIN)
    assert easter.next_change(evening) == easter.next_open(evening) == tuesday
    assert easter.status(evening) == ScheduleStatus(False, tuesday, tuesday, overridden=False)
    assert easter.status(tuesday) == ScheduleStatus(
        True, datetime(2026, 4, 7, 17, tzinfo=BERLIN), tuesday, overridden=False
    )


def test_a_schedule_without_windows_never_opens() -> None:
    closed = schedule("Asia/Seoul", holidays=["2026-06-01"])
    at = datetime(2026, 6, 1, 12, tzinfo=SEOUL)
    assert not closed.is_open(at)
    assert closed.next_change(at) is None
    assert closed.next_open(at) is None
    assert closed.status(at) == ScheduleStatus(False, None, None, overridden=False)


def test_always_open_never_changes() -> None:
    always = schedule("Europe/Berlin", weekly={day: ["00:00-24:00"] for day in WEEKDAYS})
    at = datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    assert always.is_open(at)
    assert always.next_change(at) is None
    assert always.status(at) == ScheduleStatus(True, None, at.astimezone(BERLIN), False)


def test_the_search_stops_after_400_days() -> None:
    at = datetime(2026, 6, 1, tzinfo=SEOUL)
    within = schedule("Asia/Seoul", dates={"2027-07-01": ["09:00-10:00"]})
    assert within.next_open(at) == datetime(2027, 7, 1, 9, tzinfo=SEOUL)
    beyond = schedule("Asia/Seoul", dates={"2027-07-10": ["09:00-10:00"]})
    assert beyond.next_open(at) is None


# --- DST: windows keep their wall-clock times -------------------------------------------------


def test_new_york_spring_forward() -> None:
    night = schedule("America/New_York", weekly={"sun": ["01:00-04:00"]})
    (interval,) = night.intervals_on(date(2026, 3, 8))
    assert interval == (datetime(2026, 3, 8, 6, tzinfo=UTC), datetime(2026, 3, 8, 8, tzinfo=UTC))
    assert hours(interval) == 2
    assert night.is_open(datetime(2026, 3, 8, 1, 59, tzinfo=NY))
    assert night.is_open(datetime(2026, 3, 8, 3, 30, tzinfo=NY))
    assert night.next_change(datetime(2026, 3, 8, 1, 30, tzinfo=NY)) == datetime(
        2026, 3, 8, 4, tzinfo=NY
    )


def test_a_start_in_the_gap_is_the_first_instant_after_it() -> None:
    gap = schedule("America/New_York", weekly={"sun": ["02:30-05:00"]})
    start = gap.next_open(datetime(2026, 3, 8, tzinfo=NY))
    assert start == datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert str(start) == "2026-03-08 03:00:00-04:00"
    only_gap = schedule("America/New_York", weekly={"sun": ["02:10-02:50"]})
    assert only_gap.intervals_on(date(2026, 3, 8)) == []
    assert only_gap.next_open(datetime(2026, 3, 8, tzinfo=NY)) == datetime(
        2026, 3, 15, 2, 10, tzinfo=NY
    )


def test_the_weekend_over_spring_forward_is_an_hour_shorter() -> None:
    office = schedule("America/New_York", weekly=WEEKDAYS_9_TO_5)
    friday = datetime(2026, 3, 6, 17, tzinfo=NY)
    monday = office.next_open(friday)
    assert str(monday) == "2026-03-09 09:00:00-04:00"
    assert monday is not None
    assert monday.astimezone(UTC) - friday.astimezone(UTC) == timedelta(hours=63)


def test_new_york_fall_back() -> None:
    night = schedule("America/New_York", weekly={"sun": ["00:00-03:00"]})
    (interval,) = night.intervals_on(date(2026, 11, 1))
    assert hours(interval) == 4
    second_one_thirty = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY)
    assert night.is_open(second_one_thirty)
    assert night.is_open(datetime(2026, 11, 1, 2, 59, tzinfo=NY))
    assert not night.is_open(datetime(2026, 11, 1, 3, tzinfo=NY))


def test_an_ambiguous_time_is_its_first_occurrence() -> None:
    ends = schedule("America/New_York", weekly={"sun": ["00:00-01:30"]})
    # Python never finds an ambiguous time equal to one in another zone (PEP 495): use UTC.
    assert utc(ends.next_change(datetime(2026, 11, 1, tzinfo=NY))) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    assert not ends.is_open(datetime(2026, 11, 1, 1, 15, fold=1, tzinfo=NY))
    starts = schedule("America/New_York", weekly={"sun": ["01:30-05:00"]})
    assert utc(starts.next_open(datetime(2026, 11, 1, tzinfo=NY))) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    assert hours(starts.intervals_on(date(2026, 11, 1))[0]) == 4.5


def test_berlin_spring_forward() -> None:
    night = schedule("Europe/Berlin", weekly={"sun": ["01:00-04:00"]})
    assert [hours(interval) for interval in night.intervals_on(date(2026, 3, 29))] == [2]
    only_gap = schedule("Europe/Berlin", weekly={"sun": ["02:15-02:45"]})
    assert only_gap.intervals_on(date(2026, 3, 29)) == []
    gap = schedule("Europe/Berlin", weekly={"sun": ["02:30-06:00"]})
    assert gap.next_open(datetime(2026, 3, 29, tzinfo=BERLIN)) == datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )
    bar = schedule("Europe/Berlin", weekly={"sat": ["22:00-02:00"]})
    (interval,) = bar.intervals_on(date(2026, 3, 28))  # ends where the clock jumps to 03:00
    assert interval[1] == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert hours(interval) == 4


def test_berlin_fall_back() -> None:
    night = schedule("Europe/Berlin", weekly={"sun": ["00:00-04:00"]})
    (interval,) = night.intervals_on(date(2026, 10, 25))
    assert hours(interval) == 5
    late = schedule("Europe/Berlin", weekly={"sun": ["02:30-03:30"]})
    assert utc(late.next_open(datetime(2026, 10, 25, tzinfo=BERLIN))) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert hours(late.intervals_on(date(2026, 10, 25))[0]) == 2
    assert late.is_open(datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=BERLIN))


# --- manual overrides -------------------------------------------------------------------------

OFFICE = schedule("Europe/Berlin", weekly=WEEKDAYS_9_TO_6)


def test_closed_now_lasts_until_the_next_boundary() -> None:
    closed = ManualOverride(open=False, set_at=datetime(2026, 6, 1, 10, 15, tzinfo=BERLIN))
    tuesday = datetime(2026, 6, 2, 9, tzinfo=BERLIN)
    assert OFFICE.status(datetime(2026, 6, 1, 10, 30, tzinfo=BERLIN), closed) == ScheduleStatus(
        False, tuesday, tuesday, overridden=True
    )
    assert OFFICE.status(datetime(2026, 6, 1, 17, 59, tzinfo=BERLIN), closed).overridden
    after = OFFICE.status(datetime(2026, 6, 1, 18, tzinfo=BERLIN), closed)
    assert after == ScheduleStatus(False, tuesday, tuesday, overridden=False)
    assert OFFICE.status(tuesday, closed) == ScheduleStatus(
        True, datetime(2026, 6, 2, 18, tzinfo=BERLIN), tuesday, overridden=False
    )
    before = OFFICE.status(datetime(2026, 6, 1, 10, tzinfo=BERLIN), closed)
    assert before.open
    assert not before.overridden


def test_open_now_lasts_until_the_next_opening_and_continues_by_schedule() -> None:
    opened = ManualOverride(open=True, set_at=datetime(2026, 6, 1, 18, tzinfo=UTC))  # 20:00
    night = datetime(2026, 6, 1, 23, tzinfo=BERLIN)
    assert OFFICE.status(night, opened) == ScheduleStatus(
        True, datetime(2026, 6, 2, 18, tzinfo=BERLIN), night, overridden=True
    )
    morning = datetime(2026, 6, 2, 9, tzinfo=BERLIN)
    assert OFFICE.status(morning, opened) == ScheduleStatus(
        True, datetime(2026, 6, 2, 18, tzinfo=BERLIN), morning, overridden=False
    )


def test_open_now_while_open_changes_nothing_but_the_flag() -> None:
    opened = ManualOverride(open=True, set_at=datetime(2026, 6, 1, 10, tzinfo=BERLIN))
    at = datetime(2026, 6, 1, 11, tzinfo=BERLIN)
    assert OFFICE.status(at, opened) == ScheduleStatus(
        True, datetime(2026, 6, 1, 18, tzinfo=BERLIN), at, overridden=True
    )


def test_an_override_on_a_schedule_that_never_changes_holds_until_cleared() -> None:
    closed = schedule("Asia/Seoul")
    at = datetime(2026, 6, 1, 12, tzinfo=SEOUL)
    opened = ManualOverride(open=True, set_at=at)
    assert closed.status(at + timedelta(days=500), opened) == ScheduleStatus(
        True, None, at + timedelta(days=500), overridden=True
    )
    shut = ManualOverride(open=False, set_at=at)
    assert closed.status(at, shut) == ScheduleStatus(False, None, None, overridden=True)


# --- describing the next opening --------------------------------------------------------------

NOW = datetime(2026, 12, 24, 8, tzinfo=BERLIN)  # a Thursday


@pytest.mark.parametrize(
    ("when", "english", "korean"),
    [
        (datetime(2026, 12, 24, 9, tzinfo=BERLIN), "today at 9:00", "오늘 9시"),
        (datetime(2026, 12, 25, 9, 30, tzinfo=BERLIN), "tomorrow at 9:30", "내일 9시 30분"),
        (datetime(2026, 12, 28, 9, tzinfo=BERLIN), "on Monday at 9:00", "월요일 9시"),
        (datetime(2026, 12, 30, 13, 5, tzinfo=BERLIN), "on Wednesday at 13:05", "수요일 13시 5분"),
        (datetime(2026, 12, 31, 9, tzinfo=BERLIN), "on December 31 at 9:00", "12월 31일 9시"),
        (datetime(2027, 1, 4, 0, tzinfo=BERLIN), "on January 4 at 0:00", "1월 4일 0시"),
        (
            datetime(2028, 1, 3, 9, tzinfo=BERLIN),
            "on January 3, 2028 at 9:00",
            "2028년 1월 3일 9시",
        ),
    ],
)
def test_describe_next_open(when: datetime, english: str, korean: str) -> None:
    assert describe_next_open(when, NOW) == english
    assert describe_next_open(when, NOW, "ko") == korean
    assert describe_next_open(when, NOW, "ko-KR") == korean
    assert describe_next_open(when, NOW, "fr") == english


def test_describe_uses_the_day_in_the_schedules_zone() -> None:
    now = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)  # already the 25th in Berlin
    when = datetime(2026, 12, 25, 9, tzinfo=BERLIN)
    assert describe_next_open(when, now) == "today at 9:00"
    seoul_now = datetime(2026, 12, 25, 6, tzinfo=SEOUL)  # the 25th in Seoul, the 24th in Berlin
    assert describe_next_open(when, seoul_now, "ko") == "내일 9시"


def test_describe_the_opening_after_a_holiday_weekend() -> None:
    shop = schedule("Europe/Berlin", weekly=WEEKDAYS_9_TO_6, holidays=["2026-12-25"])
    evening = datetime(2026, 12, 24, 19, tzinfo=BERLIN)
    when = shop.next_open(evening)
    assert when is not None
    assert describe_next_open(when, evening) == "on Monday at 9:00"
    assert describe_next_open(when, evening, "ko") == "월요일 9시"
