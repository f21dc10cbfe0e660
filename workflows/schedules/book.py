"""Every named schedule of a server, with the admins' manual overrides applied.

A ``ScheduleBook`` is what the rest of the server asks "is ``support`` open?", "when does it
open next?" or "how long are texts held?": one immutable object, replaced as a whole
(``with_overrides``) when an admin presses "open now" / "closed now", so a reader never sees a
half-updated set. ``view`` gives the filters (``FilterContext.schedules``) objects that only
answer ``is_open``, with the override already applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from workflows.schedules.calendar import ManualOverride, Schedule, ScheduleStatus
from workflows.schedules.describe import describe_next_open


class OpenHours(Protocol):
    """Anything that says whether it is open at a moment (a ``Schedule``, a book's entry)."""

    def is_open(self, at: datetime) -> bool:
        """Whether open at ``at`` (an aware datetime)."""
        ...


class ScheduleBook:
    """Named compiled schedules plus manual overrides; immutable.

    Overrides for names that have no schedule are dropped (a schedule file was removed while
    its override was still stored). Unknown names are never open and never open next.
    """

    __slots__ = ("_overrides", "_schedules", "_view")

    def __init__(
        self,
        schedules: Mapping[str, Schedule],
        overrides: Mapping[str, ManualOverride] | None = None,
    ) -> None:
        self._schedules: Mapping[str, Schedule] = MappingProxyType(dict(schedules))
        known = {
            name: override
            for name, override in (overrides or {}).items()
            if name in self._schedules
        }
        self._overrides: Mapping[str, ManualOverride] = MappingProxyType(known)
        # Built once: filters look schedules up on every event.
        self._view: Mapping[str, OpenHours] = MappingProxyType(
            {name: _BookEntry(self, name) for name in self._schedules}
        )

    @property
    def names(self) -> frozenset[str]:
        """The names of every schedule in the book."""
        return frozenset(self._schedules)

    @property
    def overrides(self) -> Mapping[str, ManualOverride]:
        """The manual overrides by schedule name (read-only)."""
        return self._overrides

    def get(self, name: str) -> Schedule | None:
        """The compiled schedule called ``name`` (without its override), or None."""
        return self._schedules.get(name)

    def status(self, name: str, at: datetime) -> ScheduleStatus | None:
        """Open or closed at ``at`` with the override applied; None for an unknown name."""
        schedule = self._schedules.get(name)
        if schedule is None:
            return None
        return schedule.status(at, self._overrides.get(name))

    def is_open(self, name: str, at: datetime) -> bool:
        """Whether ``name`` is open at ``at``, override applied; False for an unknown name."""
        schedule = self._schedules.get(name)
        if schedule is None:
            return False
        override = self._overrides.get(name)
        # Without an override the plain check is enough: filters ask this on every event.
        return schedule.is_open(at) if override is None else schedule.status(at, override).open

    def next_open(self, name: str, at: datetime) -> datetime | None:
        """``at`` if open then, else the next opening (after a "closed now" override ends);
        None for an unknown name or one that does not open within the search horizon."""
        status = self.status(name, at)
        return None if status is None else status.next_open

    def quiet_until(self, name: str, at: datetime) -> datetime | None:
        """When the quiet hours around ``at`` end, or None (not quiet, or an unknown name).

        Overrides do not change quiet hours: "open now" is about answering, not about texting
        people at night.
        """
        schedule = self._schedules.get(name)
        return None if schedule is None else schedule.quiet_until(at)

    def describe_next_open(self, name: str, at: datetime, language: str = "en") -> str:
        """The next opening in words ("tomorrow at 9:00"); "" when unknown or never opening."""
        when = self.next_open(name, at)
        return "" if when is None else describe_next_open(when, at, language)

    def with_overrides(self, overrides: Mapping[str, ManualOverride]) -> ScheduleBook:
        """A new book with the same schedules and ``overrides`` instead of the current ones."""
        return ScheduleBook(self._schedules, overrides)

    def view(self) -> Mapping[str, OpenHours]:
        """Every schedule as ``OpenHours`` with its override applied, for filter contexts."""
        return self._view


class _BookEntry:
    """One name of a book, answering ``is_open`` through the book (so overrides apply)."""

    __slots__ = ("_book", "_name")

    def __init__(self, book: ScheduleBook, name: str) -> None:
        self._book = book
        self._name = name

    def is_open(self, at: datetime) -> bool:
        """Whether the schedule is open at ``at``, override applied."""
        return self._book.is_open(self._name, at)

    def __repr__(self) -> str:
        return f"<OpenHours {self._name!r}>"
