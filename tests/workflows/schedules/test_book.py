"""The schedule book: named schedules with overrides, and the filters' view of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.conditions import FilterContext, compile_filter, explain, parse_filter
from workflows.schedules import (
    ManualOverride,
    OpenHours,
    Schedule,
    ScheduleBook,
    ScheduleStatus,
    parse_spec,
)

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "Europe/Berlin",
            "weekly": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
            "quiet_hours": ["21:00-08:00"],
        }
    )
)
NEVER = Schedule(parse_spec({"timezone": "Asia/Seoul"}))
MONDAY = datetime(2026, 6, 1, tzinfo=BERLIN)  # 1 June 2026 is a Monday


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return MONDAY + timedelta(days=days, hours=hour, minutes=minute)


BOOK = ScheduleBook({"office": OFFICE, "never": NEVER})
CLOSED_AT_10_15 = ManualOverride(open=False, set_at=at(10, 15))
OPENED_AT_20 = ManualOverride(open=True, set_at=at(20))


def test_names_and_lookup() -> None:
    assert BOOK.names == frozenset({"office", "never"})
    assert BOOK.get("office") is OFFICE
    assert BOOK.get("ofice") is None
    assert BOOK.overrides == {}


def test_without_overrides_the_book_is_the_schedule() -> None:
    assert BOOK.is_open("office", at(10))
    assert not BOOK.is_open("office", at(20))
    assert BOOK.status("office", at(20)) == OFFICE.status(at(20))
    assert BOOK.next_open("office", at(20)) == at(9, days=1)
    assert BOOK.describe_next_open("office", at(20)) == "tomorrow at 9:00"
    assert BOOK.describe_next_open("office", at(20), "ko") == "내일 9시"
    assert BOOK.quiet_until("office", at(22)) == at(8, days=1)
    assert BOOK.quiet_until("office", at(12)) is None


def test_unknown_names_are_closed_and_never_open() -> None:
    assert BOOK.status("ofice", at(10)) is None
    assert not BOOK.is_open("ofice", at(10))
    assert BOOK.next_open("ofice", at(10)) is None
    assert BOOK.quiet_until("ofice", at(22)) is None
    assert BOOK.describe_next_open("ofice", at(10)) == ""


def test_a_schedule_that_never_opens_has_nothing_to_describe() -> None:
    assert BOOK.next_open("never", at(10)) is None
    assert BOOK.describe_next_open("never", at(10)) == ""


def test_closed_now_during_opening_hours() -> None:
    book = BOOK.with_overrides({"office": CLOSED_AT_10_15})
    assert not book.is_open("office", at(10, 30))
    assert book.status("office", at(10, 30)) == ScheduleStatus(
        False, at(9, days=1), at(9, days=1), overridden=True
    )
    # The next opening is after the override's boundary (18:00), not "now".
    assert book.next_open("office", at(10, 30)) == at(9, days=1)
    assert book.describe_next_open("office", at(10, 30)) == "tomorrow at 9:00"
    assert book.is_open("office", at(10))  # pressed later
    assert BOOK.is_open("office", at(10, 30))  # the original book is unchanged


def test_closed_now_expires_at_the_next_boundary() -> None:
    book = BOOK.with_overrides({"office": CLOSED_AT_10_15})
    just_before = at(18) - timedelta(microseconds=1)
    status = book.status("office", just_before)
    assert status is not None
    assert status.overridden
    assert not status.open
    status = book.status("office", at(18))
    assert status is not None
    assert not status.overridden  # closed by the schedule now
    assert book.is_open("office", at(9, days=1))
    assert book.is_open("office", at(10, 30, days=1))  # the next day follows the schedule


def test_open_now_at_night() -> None:
    book = BOOK.with_overrides({"office": OPENED_AT_20})
    night = at(23)
    assert book.is_open("office", night)
    assert book.next_open("office", night) == night
    assert book.status("office", night) == ScheduleStatus(
        True, at(18, days=1), night, overridden=True
    )
    # The schedule opens at 09:00 anyway: the override ends and the schedule carries on.
    status = book.status("office", at(9, days=1))
    assert status is not None
    assert status.open
    assert not status.overridden
    assert not book.is_open("office", at(18, days=1))
    assert not book.is_open("office", at(19, 59))  # before it was pressed


def test_overrides_do_not_change_quiet_hours() -> None:
    book = BOOK.with_overrides({"office": OPENED_AT_20})
    assert book.quiet_until("office", at(22)) == at(8, days=1)


def test_with_overrides_replaces_them_all_and_drops_unknown_names() -> None:
    book = ScheduleBook({"office": OFFICE}, {"office": OPENED_AT_20, "gone": CLOSED_AT_10_15})
    assert book.overrides == {"office": OPENED_AT_20}
    cleared = book.with_overrides({})
    assert cleared.overrides == {}
    assert not cleared.is_open("office", at(23))
    assert book.is_open("office", at(23))
    assert cleared.names == book.names


def test_the_view_answers_with_overrides_applied() -> None:
    book = BOOK.with_overrides({"office": CLOSED_AT_10_15})
    view = book.view()
    assert set(view) == {"office", "never"}
    office: OpenHours = view["office"]
    assert not office.is_open(at(10, 30))
    assert office.is_open(at(10))
    assert view["office"].is_open(at(10, 30, days=1))
    assert "ofice" not in view


@pytest.mark.parametrize(
    ("overrides", "now", "is_open"),
    [
        ({}, at(10, 30), True),
        ({"office": CLOSED_AT_10_15}, at(10, 30), False),
        ({}, at(23), False),
        ({"office": OPENED_AT_20}, at(23), True),
        ({"office": OPENED_AT_20}, at(18, days=1), False),
    ],
)
def test_filters_see_the_overrides(
    overrides: dict[str, ManualOverride], now: datetime, is_open: bool
) -> None:
    book = BOOK.with_overrides(overrides)
    ctx = FilterContext(now=now.astimezone(UTC), channel="voice", schedules=book.view())
    open_filter = parse_filter({"open": "office"})
    closed_filter = parse_filter({"closed": "office"})
    assert compile_filter(open_filter, book.names)(ctx) is is_open
    assert compile_filter(closed_filter, book.names)(ctx) is not is_open
    expected = [] if is_open else ["when.open: schedule 'office' is closed"]
    assert explain(open_filter, ctx) == expected
