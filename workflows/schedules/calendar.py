"""When a schedule is open: its windows turned into real instants, one local date at a time.

Windows are local wall-clock times, so each one is placed on its own date and converted to
UTC there (never by adding a timedelta to a local time): a window keeps its wall-clock start
and end across DST changes and lasts as many real hours as the clock says. A wall time the
clock skips (spring forward) means the first instant after the gap; a wall time the clock
repeats (fall back) means its first occurrence. All comparisons are made in UTC, because
Python compares two datetimes of the same zone by wall time, ignoring ``fold``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.schedules.spec import MINUTES_PER_DAY, WEEKDAYS, ScheduleSpec, Window

SEARCH_DAYS = 400
_DAY = timedelta(days=1)

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class ManualOverride:
    """An admin's "open now" (``open=True``) or "closed now" (``open=False``), set at ``set_at``.

    It holds until the schedule's next natural boundary after ``set_at`` (the next moment the
    schedule itself opens or closes); from then on the schedule applies again.
    """

    open: bool
    set_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    """Open or closed at a moment, until when, and when it opens next (schedule's zone)."""

    open: bool
    until: datetime | None
    next_open: datetime | None
    overridden: bool


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone: pass an aware datetime")
    return at.astimezone(UTC)


def _offset(wall: datetime, zone: ZoneInfo, fold: int) -> timedelta:
    offset = wall.replace(tzinfo=zone, fold=fold).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) that the naive local ``wall`` time names in ``zone``.

    A repeated wall time is its first occurrence (fold=0); a skipped one is the first instant
    after the gap.
    """
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    offsets = sorted(_offset(wall, zone, fold) for fold in (0, 1))
    before = (wall - offsets[1]).replace(tzinfo=UTC)  # shows a wall time before the gap
    low, high = 0, int((offsets[1] - offsets[0]).total_seconds())
    while low < high:  # the first second whose wall time is at or after ``wall``
        middle = (low + high) // 2
        shown = (before + timedelta(seconds=middle)).astimezone(zone).replace(tzinfo=None)
        low, high = (low, middle) if shown >= wall else (middle + 1, high)
    return before + timedelta(seconds=low)


class Schedule:
    """A ``ScheduleSpec`` compiled once, answering "open at this moment?" and "until when?".

    Every method takes an aware ``datetime`` in any zone and returns datetimes in the
    schedule's zone. A window belongs to the local date it starts on: holidays and ``dates``
    replace the windows that start on that date, so a window crossing midnight from the day
    before still runs into a holiday.
    """

    def __init__(self, spec: ScheduleSpec) -> None:
        self.spec = spec
        self.zone = ZoneInfo(spec.timezone)
        weekly: list[tuple[Window, ...]] = [()] * len(WEEKDAYS)
        for weekday, windows in spec.weekly.items():
            weekly[WEEKDAYS.index(weekday)] = windows
        self._weekly = tuple(weekly)
        self._holidays = frozenset(spec.holidays)
        self._dates = dict(spec.dates)

    def windows_on(self, day: date) -> tuple[Window, ...]:
        """The windows that start on the local date ``day``, sorted by start."""
        if day in self._holidays:
            return ()
        return self._dates.get(day, self._weekly[day.weekday()])

    def intervals_on(self, day: date) -> list[Interval]:
        """The real (UTC) start and end of each window starting on ``day``; a window that
        falls entirely into a DST gap has no real time and is left out."""
        return self._real(day, self.windows_on(day))

    def is_open(self, at: datetime) -> bool:
        """Whether the schedule is open at ``at``."""
        now = _utc(at)
        today = now.astimezone(self.zone).date()
        days = (today - _DAY, today)
        return any(start <= now < end for day in days for start, end in self.intervals_on(day))

    def next_change(self, at: datetime) -> datetime | None:
        """The next moment after ``at`` when open/closed flips; None if none within 400 days."""
        return self._local(self._state(_utc(at))[1])

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` if open then, else the next opening; None if none within 400 days."""
        now = _utc(at)
        is_open, change = self._state(now)
        return self._local(now if is_open else change)

    def quiet_intervals_on(self, day: date) -> list[Interval]:
        """The real (UTC) start and end of each quiet window starting on ``day``; like
        opening windows, one that falls entirely into a DST gap is left out."""
        return self._real(day, self.spec.quiet_hours)

    def quiet_until(self, at: datetime) -> datetime | None:
        """When the quiet period around ``at`` ends, or None if ``at`` is not in quiet hours.

        Quiet windows that touch or overlap (``22:00-24:00`` and ``00:00-07:00``, or windows
        joined by a DST gap) count as one quiet period, so the answer is when texts may go out.
        """
        now = _utc(at)
        if not self.spec.quiet_hours:
            return None
        yesterday = now.astimezone(self.zone).date() - _DAY
        # Validation leaves a gap in every day's quiet hours, so a quiet period ends within a
        # few days; the horizon only guards the loop.
        days = _days(yesterday, yesterday + timedelta(days=SEARCH_DAYS))
        for start, end in _merge(self.quiet_intervals_on(day) for day in days):
            if now < start:
                return None
            if now < end:
                return self._local(end)
        return None

    def status(self, at: datetime, override: ManualOverride | None = None) -> ScheduleStatus:
        """Open or closed at ``at``, with ``override`` applied while it is in force."""
        now = _utc(at)
        in_force, boundary = self._override(override, now)
        if override is not None and in_force:
            return self._overridden(override.open, now, boundary)
        is_open, change = self._state(now)
        next_open = now if is_open else change
        return ScheduleStatus(is_open, self._local(change), self._local(next_open), False)

    def _overridden(self, is_open: bool, now: datetime, end: datetime | None) -> ScheduleStatus:
        """Forced ``is_open`` until ``end`` (None: until cleared), the schedule after it."""
        # With no end the state never flips again, as if the schedule agreed forever.
        after_open, after_change = self._state(end) if end is not None else (is_open, None)
        until = end if after_open != is_open else after_change
        next_open = now if is_open else (end if after_open else after_change)
        return ScheduleStatus(is_open, self._local(until), self._local(next_open), True)

    def _override(
        self, override: ManualOverride | None, now: datetime
    ) -> tuple[bool, datetime | None]:
        """Whether ``override`` is in force at ``now``, and when it ends (None: when cleared)."""
        if override is None or now < _utc(override.set_at):
            return False, None
        end = self._state(_utc(override.set_at))[1]
        return end is None or now < end, end

    def _state(self, now: datetime) -> tuple[bool, datetime | None]:
        """Open at ``now`` (UTC), and the next flip within the search horizon."""
        limit = now + timedelta(days=SEARCH_DAYS)
        first = now.astimezone(self.zone).date() - _DAY
        last = limit.astimezone(self.zone).date() + _DAY
        for start, end in self._merged(first, last):
            if end <= now:
                continue
            if start <= now:
                return True, end if end <= limit else None
            return False, start if start <= limit else None
        return False, None

    def _merged(self, first: date, last: date) -> Iterator[Interval]:
        """Open intervals of the windows starting from ``first`` to ``last``, touching and
        overlapping ones (a window crossing into the next day's) joined into one."""
        return _merge(self.intervals_on(day) for day in _days(first, last))

    def _real(self, day: date, windows: Iterable[Window]) -> list[Interval]:
        """``windows`` starting on ``day`` as UTC intervals, leaving out those with no real time."""
        intervals = []
        for window in windows:
            start, end = self._instant(day, window.start), self._instant(day, window.stop)
            if start < end:
                intervals.append((start, end))
        return intervals

    def _instant(self, day: date, minutes: int) -> datetime:
        days, minute = divmod(minutes, MINUTES_PER_DAY)
        wall = datetime.combine(day + timedelta(days=days), time(minute // 60, minute % 60))
        return wall_to_utc(wall, self.zone)

    def _local(self, instant: datetime | None) -> datetime | None:
        return None if instant is None else instant.astimezone(self.zone)


def _days(first: date, last: date) -> Iterator[date]:
    """Every date from ``first`` to ``last``, lazily (callers often stop early)."""
    day = first
    while day <= last:
        yield day
        day += _DAY


def _merge(days: Iterable[Iterable[Interval]]) -> Iterator[Interval]:
    """Intervals given day by day in start order, touching and overlapping ones joined."""
    current: Interval | None = None
    for intervals in days:
        for start, end in intervals:
            if current is not None and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (start, end)
    if current is not None:
        yield current
