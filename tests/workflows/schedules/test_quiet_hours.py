"""Quiet hours: every day, across midnight, merged, and exact across DST in two zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflows.schedules import Schedule, ScheduleInvalid, parse_spec

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def quiet(timezone: str, *windows: str, **fields: Any) -> Schedule:
    return Schedule(parse_spec({"timezone": timezone, "quiet_hours": list(windows), **fields}))


def utc(at: datetime | None) -> datetime:
    assert at is not None
    return at.astimezone(UTC)


def problems(quiet_hours: Any) -> list[str]:
    with pytest.raises(ScheduleInvalid) as raised:
        parse_spec({"timezone": "UTC", "quiet_hours": quiet_hours})
    return raised.value.messages()


# --- the format -------------------------------------------------------------------------------


def test_quiet_hours_parse_sorted_and_dump_as_written() -> None:
    spec = parse_spec({"timezone": "UTC", "quiet_hours": ["21:00-08:00", "12:00-13:00"]})
    assert spec.model_dump(mode="json")["quiet_hours"] == ["12:00-13:00", "21:00-08:00"]
    assert parse_spec({"timezone": "UTC"}).quiet_hours == ()


@pytest.mark.parametrize(
    ("quiet_hours", "expected"),
    [
        ("21:00-08:00", "quiet_hours: must be a list of windows such as ['09:00-17:00']"),
        (["9pm-8am"], "quiet_hours.0: must be a window such as '09:00-17:00', not '9pm-8am'"),
        (
            ["21:00-08:00", "22:00-23:00"],
            "quiet_hours: windows '21:00-08:00' and '22:00-23:00' overlap",
        ),
        (
            ["21:00-08:00", "07:00-07:30"],
            "quiet_hours: windows '21:00-08:00' and '07:00-07:30' overlap"
            " (quiet hours repeat every day)",
        ),
        (
            ["00:00-24:00"],
            "quiet_hours: quiet hours cover the whole day: leave some time for texts to go out",
        ),
        (
            ["08:00-20:00", "20:00-08:00"],
            "quiet_hours: quiet hours cover the whole day: leave some time for texts to go out",
        ),
    ],
)
def test_quiet_hours_validation(quiet_hours: Any, expected: str) -> None:
    assert problems(quiet_hours) == [expected]


def test_windows_touching_across_midnight_are_allowed() -> None:
    spec = parse_spec({"timezone": "UTC", "quiet_hours": ["22:00-24:00", "00:00-07:00"]})
    assert [str(window) for window in spec.quiet_hours] == ["00:00-07:00", "22:00-24:00"]


# --- every day, across midnight ---------------------------------------------------------------

NIGHT = quiet("Europe/Berlin", "21:00-08:00")


@pytest.mark.parametrize(
    ("at", "until"),
    [
        (datetime(2026, 6, 1, 20, 59, tzinfo=BERLIN), None),
        (datetime(2026, 6, 1, 21, tzinfo=BERLIN), datetime(2026, 6, 2, 8, tzinfo=BERLIN)),
        (datetime(2026, 6, 1, 23, 30, tzinfo=BERLIN), datetime(2026, 6, 2, 8, tzinfo=BERLIN)),
        (datetime(2026, 6, 2, 7, 59, tzinfo=BERLIN), datetime(2026, 6, 2, 8, tzinfo=BERLIN)),
        (datetime(2026, 6, 2, 8, tzinfo=BERLIN), None),
        (datetime(2026, 6, 2, 12, tzinfo=BERLIN), None),
    ],
)
def test_quiet_until_the_window_ends(at: datetime, until: datetime | None) -> None:
    assert NIGHT.quiet_until(at) == until


def test_quiet_hours_apply_every_day_whatever_the_opening_hours() -> None:
    shop = quiet(
        "Europe/Berlin",
        "21:00-08:00",
        weekly={"sat": ["22:00-02:00"]},
        holidays=["2026-12-25"],
    )
    for day in range(20, 32):  # every weekday, a holiday, a late opening
        at = datetime(2026, 12, day, 23, tzinfo=BERLIN)
        assert shop.quiet_until(at) == datetime(2026, 12, day, 8, tzinfo=BERLIN) + timedelta(1)


def test_the_answer_is_in_the_schedules_zone_whatever_the_zone_asked_in() -> None:
    until = NIGHT.quiet_until(datetime(2026, 6, 1, 22, tzinfo=UTC))  # midnight in Berlin
    assert until is not None
    assert until.tzinfo is BERLIN
    assert until == datetime(2026, 6, 2, 8, tzinfo=BERLIN)


def test_touching_windows_make_one_quiet_period() -> None:
    split = quiet("Europe/Berlin", "22:00-24:00", "00:00-07:00", "12:00-13:00")
    assert split.quiet_until(datetime(2026, 6, 1, 22, 30, tzinfo=BERLIN)) == datetime(
        2026, 6, 2, 7, tzinfo=BERLIN
    )
    assert split.quiet_until(datetime(2026, 6, 2, 12, 30, tzinfo=BERLIN)) == datetime(
        2026, 6, 2, 13, tzinfo=BERLIN
    )
    assert split.quiet_until(datetime(2026, 6, 2, 13, tzinfo=BERLIN)) is None


def test_no_quiet_hours_is_never_quiet() -> None:
    assert quiet("Europe/Berlin").quiet_until(datetime(2026, 6, 1, 3, tzinfo=BERLIN)) is None


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        NIGHT.quiet_until(datetime(2026, 6, 1, 23))


# --- DST: New York ----------------------------------------------------------------------------


def test_new_york_spring_forward_night_is_an_hour_shorter() -> None:
    night = quiet("America/New_York", "22:00-08:00")
    (interval,) = night.quiet_intervals_on(date(2026, 3, 7))
    assert interval[1] - interval[0] == timedelta(hours=9)
    until = night.quiet_until(datetime(2026, 3, 7, 23, tzinfo=NY))
    assert str(until) == "2026-03-08 08:00:00-04:00"
    assert night.quiet_until(datetime(2026, 3, 8, 3, 30, tzinfo=NY)) == until


def test_new_york_an_end_in_the_gap_is_the_first_instant_after_it() -> None:
    night = quiet("America/New_York", "21:00-02:30")
    until = night.quiet_until(datetime(2026, 3, 7, 22, tzinfo=NY))
    assert utc(until) == datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert str(until) == "2026-03-08 03:00:00-04:00"
    assert night.quiet_until(datetime(2026, 3, 8, 1, 59, tzinfo=NY)) == until
    assert night.quiet_until(datetime(2026, 3, 8, 3, tzinfo=NY)) is None
    # The next night ends at 02:30 again.
    assert str(night.quiet_until(datetime(2026, 3, 8, 22, tzinfo=NY))) == (
        "2026-03-09 02:30:00-04:00"
    )


def test_new_york_windows_joined_by_the_gap_are_one_quiet_period() -> None:
    night = quiet("America/New_York", "21:00-02:00", "03:00-07:00")
    # 02:00 does not exist on 8 March: the first window ends at 03:00, where the next starts.
    assert str(night.quiet_until(datetime(2026, 3, 7, 23, tzinfo=NY))) == (
        "2026-03-08 07:00:00-04:00"
    )
    assert str(night.quiet_until(datetime(2026, 3, 8, 23, tzinfo=NY))) == (
        "2026-03-09 02:00:00-04:00"
    )


def test_new_york_a_window_inside_the_gap_does_not_happen() -> None:
    gap = quiet("America/New_York", "02:10-02:50")
    assert gap.quiet_intervals_on(date(2026, 3, 8)) == []
    assert gap.quiet_until(datetime(2026, 3, 8, 7, 15, tzinfo=UTC)) is None  # 03:15 EDT
    assert gap.quiet_until(datetime(2026, 3, 9, 2, 20, tzinfo=NY)) == datetime(
        2026, 3, 9, 2, 50, tzinfo=NY
    )


def test_new_york_fall_back_ends_at_the_first_occurrence() -> None:
    night = quiet("America/New_York", "22:00-01:30")
    until = night.quiet_until(datetime(2026, 10, 31, 23, tzinfo=NY))
    assert utc(until) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert night.quiet_until(datetime(2026, 11, 1, 1, 45, tzinfo=NY)) is None  # EDT
    assert night.quiet_until(datetime(2026, 11, 1, 1, 15, fold=1, tzinfo=NY)) is None  # EST
    long_night = quiet("America/New_York", "22:00-08:00")
    (interval,) = long_night.quiet_intervals_on(date(2026, 10, 31))
    assert interval[1] - interval[0] == timedelta(hours=11)
    second_one_thirty = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY)
    assert long_night.quiet_until(second_one_thirty) == datetime(2026, 11, 1, 8, tzinfo=NY)


# --- DST: Berlin ------------------------------------------------------------------------------


def test_berlin_spring_forward() -> None:
    night = quiet("Europe/Berlin", "22:00-02:30")
    until = night.quiet_until(datetime(2026, 3, 28, 23, tzinfo=BERLIN))
    assert utc(until) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert str(until) == "2026-03-29 03:00:00+02:00"
    starts_in_gap = quiet("Europe/Berlin", "02:30-06:00")
    assert starts_in_gap.quiet_until(datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) is None
    assert starts_in_gap.quiet_until(datetime(2026, 3, 29, 1, tzinfo=UTC)) == datetime(
        2026, 3, 29, 6, tzinfo=BERLIN
    )


def test_berlin_fall_back() -> None:
    night = quiet("Europe/Berlin", "21:00-02:30")
    until = night.quiet_until(datetime(2026, 10, 24, 22, tzinfo=BERLIN))
    assert utc(until) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)
    assert night.quiet_until(datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=BERLIN)) is None
    long_night = quiet("Europe/Berlin", "22:00-08:00")
    (interval,) = long_night.quiet_intervals_on(date(2026, 10, 24))
    assert interval[1] - interval[0] == timedelta(hours=11)
    assert long_night.quiet_until(datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)) == (
        datetime(2026, 10, 25, 8, tzinfo=BERLIN)
    )
