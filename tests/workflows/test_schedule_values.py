"""``{{schedule.*}}``: the workflow's ``hours`` seen at a moment, in words in the workflow's
language, worded for when the text is read, and computed only when asked for."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.schedules import ManualOverride, Schedule, ScheduleBook, parse_spec
from workflows.schedules.values import SCHEDULE_VALUES, ScheduleValues
from workflows.steps.base import SMS, RunContext

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "Europe/Berlin",
            "weekly": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
            "quiet_hours": ["21:30-08:00"],
        }
    )
)
NEVER = Schedule(parse_spec({"timezone": "Asia/Seoul"}))
BOOK = ScheduleBook({"office": OFFICE, "never": NEVER})
MONDAY = datetime(2026, 6, 1, tzinfo=BERLIN)  # 1 June 2026 is a Monday


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return MONDAY + timedelta(days=days, hours=hour, minutes=minute)


def values(
    now: datetime,
    language: str = "en",
    *,
    name: str = "office",
    book: ScheduleBook = BOOK,
    read_at: datetime | None = None,
) -> ScheduleValues:
    return ScheduleValues(book, name, now, language, read_at)


def test_while_open() -> None:
    seen = values(at(10))
    assert seen["name"] == "office"
    assert seen["timezone"] == "Europe/Berlin"
    assert seen["open"] is True
    assert seen["next_open_at"] == at(10)
    assert seen["next_open"] == "today at 10:00"


def test_while_closed_in_english_and_korean() -> None:
    evening = values(at(20))
    assert evening["open"] is False
    assert evening["next_open_at"] == at(9, days=1)
    assert evening["next_open"] == "tomorrow at 9:00"
    assert values(at(20), "ko-KR")["next_open"] == "내일 9시"
    assert values(at(7), "ko")["next_open"] == "오늘 9시"


def test_over_the_weekend() -> None:
    friday_evening = at(19, days=4)
    assert values(friday_evening)["next_open"] == "on Monday at 9:00"
    assert values(friday_evening, "ko")["next_open"] == "월요일 9시"
    assert values(friday_evening)["next_open_at"] == at(9, days=7)


def test_languages_without_phrases_read_english() -> None:
    assert values(at(20), "de-DE")["next_open"] == "tomorrow at 9:00"


def test_a_text_read_after_quiet_hours_says_today() -> None:
    # Written at 22:00 Monday, held by quiet hours until 08:00 Tuesday: read on Tuesday.
    held = values(at(22), read_at=at(8, days=1))
    assert held["next_open"] == "today at 9:00"
    assert values(at(22))["next_open"] == "tomorrow at 9:00"
    assert held["next_open_at"] == at(9, days=1)
    assert values(at(22), "ko", read_at=at(8, days=1))["next_open"] == "오늘 9시"


def test_a_read_at_before_now_changes_nothing() -> None:
    assert values(at(22), read_at=at(12))["next_open"] == "tomorrow at 9:00"


def test_manual_overrides_apply() -> None:
    closed = BOOK.with_overrides({"office": ManualOverride(open=False, set_at=at(10, 15))})
    seen = values(at(10, 30), book=closed)
    assert seen["open"] is False
    assert seen["next_open"] == "tomorrow at 9:00"


def test_a_schedule_that_never_opens() -> None:
    seen = values(at(10), name="never")
    assert seen["open"] is False
    assert seen["next_open_at"] is None
    assert seen["next_open"] == ""
    assert seen["timezone"] == "Asia/Seoul"


def test_an_unknown_schedule_is_closed_with_no_zone() -> None:
    seen = values(at(10), name="gone")
    assert (seen["open"], seen["next_open_at"], seen["next_open"], seen["timezone"]) == (
        False,
        None,
        "",
        None,
    )


def test_unknown_keys_raise_key_error() -> None:
    seen = values(at(10))
    with pytest.raises(KeyError):
        seen["closes_at"]
    assert seen.get("closes_at") is None
    assert "closes_at" not in seen
    assert list(seen) == list(SCHEDULE_VALUES)
    assert len(seen) == len(SCHEDULE_VALUES)


def test_templates_and_branches_read_it_through_the_run() -> None:
    ctx = RunContext(SMS, {}, {}, {}, {}, now=at(20), roots={"schedule": values(at(20))})
    assert ctx.lookup("schedule.open") is False
    assert ctx.lookup("schedule.next_open") == "tomorrow at 9:00"
    assert ctx.lookup("schedule.missing") is None


class CountingBook(ScheduleBook):
    """A book that counts what it is asked."""

    def __init__(self, schedules: Mapping[str, Schedule]) -> None:
        super().__init__(schedules)
        self.calls: dict[str, int] = {}

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def get(self, name: str) -> Schedule | None:
        self._count("get")
        return super().get(name)

    def is_open(self, name: str, at: datetime) -> bool:
        self._count("is_open")
        return super().is_open(name, at)

    def next_open(self, name: str, at: datetime) -> datetime | None:
        self._count("next_open")
        return super().next_open(name, at)


def test_values_are_computed_only_when_asked_and_only_once() -> None:
    book = CountingBook({"office": OFFICE})
    seen = values(at(20), book=book)
    assert seen["name"] == "office"
    assert book.calls == {}

    assert seen["open"] is False
    assert seen["open"] is False
    assert book.calls == {"is_open": 1}

    assert seen["next_open"] == "tomorrow at 9:00"
    assert seen["next_open_at"] == at(9, days=1)
    assert seen["next_open"] == "tomorrow at 9:00"
    assert book.calls == {"is_open": 1, "next_open": 1}

    assert seen["timezone"] == "Europe/Berlin"
    assert seen["timezone"] == "Europe/Berlin"
    assert book.calls == {"is_open": 1, "next_open": 1, "get": 1}
