"""``time``: days of the week and an optional local time window, in a time zone."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StrictStr, WithJsonSchema, field_validator, model_validator

from workflows.conditions.base import (
    Check,
    FilterContext,
    FilterKind,
    FilterModel,
    Strict,
    _Compiler,
    _leaf,
)
from workflows.problems import Path
from workflows.schedules.spec import WEEKDAYS, Weekday

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")

TimeText = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00"]})
]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


def _clock(value: Any, *, is_end: bool) -> int:
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"must be a time such as '09:00', not {value!r}")
    hours, minutes = int(match[1]), int(match[2])
    if (hours, minutes) == (24, 0) and is_end:
        return 24 * 60
    if hours > 23 or minutes > 59:
        end = ", or 24:00" if is_end else ""
        raise ValueError(f"bad time '{value}': use 00:00 to 23:59{end}")
    return hours * 60 + minutes


class TimeWindow(Strict):
    """Days of the week and an optional local time window, read in ``timezone``."""

    days: Annotated[tuple[Weekday, ...], Field(min_length=1)] = WEEKDAYS
    from_: TimeText | None = Field(default=None, alias="from")
    to: TimeText | None = None
    timezone: StrictStr

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return _zone(name)

    @field_validator("from_")
    @classmethod
    def _start(cls, value: str) -> str:
        _clock(value, is_end=False)
        return value

    @field_validator("to")
    @classmethod
    def _end(cls, value: str) -> str:
        _clock(value, is_end=True)
        return value

    @model_validator(mode="after")
    def _both_ends(self) -> TimeWindow:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("give both from and to, or neither")
        if self.minutes is not None and self.minutes[0] == self.minutes[1] % (24 * 60):
            raise ValueError("from and to are the same time (leave both out for whole days)")
        return self

    @property
    def minutes(self) -> tuple[int, int] | None:
        """``(from, to)`` in minutes after local midnight, or None for whole days."""
        if self.from_ is None or self.to is None:
            return None
        return _clock(self.from_, is_end=False), _clock(self.to, is_end=True)


class TimeFilter(FilterModel):
    kind_name: ClassVar[str] = "time"
    time: TimeWindow


def _compile_time(spec: TimeFilter, path: Path, compiler: _Compiler) -> Check:
    zone = ZoneInfo(spec.time.timezone)
    days = frozenset(WEEKDAYS.index(day) for day in spec.time.days)
    window = spec.time.minutes

    def check_time(ctx: FilterContext) -> bool:
        local = ctx.now.astimezone(zone)
        if window is None:
            return local.weekday() in days
        start, end = window
        minute = local.hour * 60 + local.minute
        if start < end:
            return local.weekday() in days and start <= minute < end
        yesterday = (local - timedelta(days=1)).weekday()
        return (local.weekday() in days and minute >= start) or (yesterday in days and minute < end)

    return check_time


def _why_not_time(spec: TimeFilter, ctx: FilterContext) -> str:
    time = spec.time
    local = ctx.now.astimezone(ZoneInfo(time.timezone))
    wanted = "/".join(time.days)
    if time.from_ is not None:
        wanted = f"{wanted} {time.from_}-{time.to}"
    now = WEEKDAYS[local.weekday()]
    return f"it is {now} {local:%H:%M} in {time.timezone}, not {wanted}"


KIND = FilterKind(
    "time",
    TimeFilter,
    _compile_time,
    _leaf(_compile_time, _why_not_time),
    "days of the week and a local time window",
)
