"""Say when a schedule opens next, for message templates: "tomorrow at 9:00", "내일 9시"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_KO_WEEKDAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
_WEEK = range(2, 7)
_YEAR = 365


def _english(when: datetime, days: int) -> str:
    clock = f"{when.hour}:{when.minute:02d}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days in _WEEK:
        return f"on {_EN_WEEKDAYS[when.weekday()]} at {clock}"
    year = f", {when.year}" if abs(days) >= _YEAR else ""
    return f"on {_EN_MONTHS[when.month - 1]} {when.day}{year} at {clock}"


def _korean(when: datetime, days: int) -> str:
    clock = f"{when.hour}시" + (f" {when.minute}분" if when.minute else "")
    if days == 0:
        return f"오늘 {clock}"
    if days == 1:
        return f"내일 {clock}"
    if days in _WEEK:
        return f"{_KO_WEEKDAYS[when.weekday()]} {clock}"
    year = f"{when.year}년 " if abs(days) >= _YEAR else ""
    return f"{year}{when.month}월 {when.day}일 {clock}"


PHRASES: dict[str, Callable[[datetime, int], str]] = {"en": _english, "ko": _korean}


def describe_next_open(when: datetime, now: datetime, language: str = "en") -> str:
    """``when`` (an opening, aware, in the schedule's zone) as seen from ``now``.

    English: "today at 9:00", "tomorrow at 9:00", "on Monday at 9:00" (2 to 6 days ahead),
    "on December 27 at 9:00" (further; with the year from a year ahead). Korean: "오늘 9시",
    "내일 9시", "월요일 9시 30분", "12월 27일 9시". ``language`` is a tag such as ``ko-KR``;
    languages without phrases fall back to English.
    """
    if when.tzinfo is None or now.tzinfo is None:
        raise ValueError("describe_next_open needs aware datetimes")
    days = (when.date() - now.astimezone(when.tzinfo).date()).days
    phrase = PHRASES.get(language.split("-")[0].lower(), _english)
    return phrase(when, days)
