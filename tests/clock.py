"""Test clocks and moments computed from now, so that the suite passes on any date.

A test never pins a calendar date relative to the real one: it asks for "the next Monday at
10:00 in New York" (:func:`next_weekday_at`) and moves the server's one clock there
(:class:`MovableClock`), or freezes a clock of its own (:class:`FrozenClock`) for code that
only ever sees that clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)


class MovableClock:
    """The real time plus however far the test moved it: it keeps running, like a server's."""

    def __init__(self, start: datetime | None = None) -> None:
        self.offset = timedelta(0)
        if start is not None:
            self.set(start)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.offset += delta

    def set(self, moment: datetime) -> None:
        """Make it ``moment`` now (the clock goes on running from there)."""
        self.offset += moment - self()


class FrozenClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now if now is not None else datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.now += delta


def next_weekday_at(
    weekday: int, at: time, zone: tzinfo, *, after: datetime | None = None
) -> datetime:
    """The first ``weekday`` (0 = Monday) at wall-clock time ``at`` in ``zone`` strictly later
    than ``after`` (default: now), e.g. "next Monday 12:30 in New York"."""
    start = (after or datetime.now(UTC)).astimezone(zone)
    for days in range(8):
        day = start.date() + timedelta(days=days)
        if day.weekday() != weekday:
            continue
        candidate = datetime.combine(day, at, tzinfo=zone)
        if candidate > start:
            return candidate
    raise AssertionError("unreachable: a weekday comes round within eight days")


def on_day_at(moment: datetime, days: int, at: time) -> datetime:
    """Wall-clock time ``at`` on the day ``days`` after ``moment``'s, in ``moment``'s zone."""
    day = moment.date() + timedelta(days=days)
    return datetime.combine(day, at, tzinfo=moment.tzinfo)
