"""The ``schedule`` values a run can read: ``{{schedule.next_open}}``, ``schedule.open``.

Computed on first use and then kept for the turn, so a call whose workflow never asks about
its business hours pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from workflows.schedules.book import ScheduleBook
from workflows.schedules.describe import describe_next_open

SCHEDULE_VALUES: Final = ("name", "timezone", "open", "next_open", "next_open_at")


class ScheduleValues(Mapping[str, Any]):
    """The workflow's ``hours`` schedule seen at ``now``.

    ``name``; ``timezone``; ``open`` (manual overrides applied); ``next_open``, the next
    opening in words in the workflow's language ("on Monday at 9:00", "월요일 9시"; "" when it
    never opens); ``next_open_at``, the same moment as an aware datetime (None if never).

    ``read_at`` is when the words will be read, if later than ``now``: a text held by quiet
    hours from 21:30 to 08:00 must say "today at 9:00", not "tomorrow at 9:00".
    """

    def __init__(
        self,
        book: ScheduleBook,
        name: str,
        now: datetime,
        language: str,
        read_at: datetime | None = None,
    ) -> None:
        self._book = book
        self._name = name
        self._now = now
        self._language = language
        self._read_at = read_at or now
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in SCHEDULE_VALUES:
            raise KeyError(key)
        if key not in self._values:
            self._values[key] = self._compute(key)
        return self._values[key]

    def _compute(self, key: str) -> Any:
        book, name, now = self._book, self._name, self._now
        if key == "name":
            return name
        if key == "timezone":
            schedule = book.get(name)
            return None if schedule is None else schedule.spec.timezone
        if key == "open":
            return book.is_open(name, now)
        if key == "next_open_at":
            return book.next_open(name, now)
        opens = self["next_open_at"]
        if opens is None:
            return ""
        return describe_next_open(opens, max(self._read_at, now), self._language)

    def __iter__(self) -> Iterator[str]:
        return iter(SCHEDULE_VALUES)

    def __len__(self) -> int:
        return len(SCHEDULE_VALUES)
