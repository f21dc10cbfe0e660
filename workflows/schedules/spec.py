"""The schedule format: what an admin writes, validated with messages that say what is wrong.

```yaml
timezone: Europe/Berlin
weekly: {mon: ["09:00-12:30", "13:30-18:00"], sat: ["22:00-02:00"]}
holidays: ["2026-12-25"]
dates: {"2026-12-24": ["09:00-12:00"]}
quiet_hours: ["21:00-08:00"]
```

Times are local wall-clock times in ``timezone``; a window whose end is not after its start
crosses midnight and ends the next day; ``24:00`` ends a window at midnight. Quiet hours use
the same windows and repeat every day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from workflows.problems import Path, Problem, WorkflowInvalid

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_WINDOW = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WINDOW_EXAMPLE = "must be a window such as '09:00-17:00'"


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """Opening hours starting on a day: minutes after local midnight, ``end`` as written.

    ``end`` is 1 to 1440 (``24:00``); an ``end`` not after ``start`` crosses midnight.
    """

    start: int
    end: int

    @property
    def stop(self) -> int:
        """Minutes after the start day's midnight when the window closes (up to 2879)."""
        return self.end if self.end > self.start else self.end + MINUTES_PER_DAY

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str, *, is_end: bool) -> int:
    match = _TIME.match(text)
    hours, minutes = (int(match[1]), int(match[2])) if match else (99, 99)
    if (hours, minutes) == (24, 0):
        if not is_end:
            raise ValueError(f"bad time '{text}': 24:00 can only end a window")
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad time '{text}': use 00:00 to 23:59, or 24:00 as an end")
    return hours * 60 + minutes


def _parse_window(value: Any) -> Window:
    if isinstance(value, Window):
        return value
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{_WINDOW_EXAMPLE}, not {value!r}")
    window = Window(_minutes(match[1], is_end=False), _minutes(match[2], is_end=True))
    if window.start == window.end:
        raise ValueError(
            f"window '{value.strip()}' starts and ends at the same time"
            " (use 00:00-24:00 for a whole day)"
        )
    return window


def _require_list(what: str, example: str) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list of {what} such as [{example}]")
        return value

    return check


def _no_overlaps(windows: tuple[Window, ...]) -> tuple[Window, ...]:
    ordered = sorted(windows)
    for first, second in pairwise(ordered):
        if second.start < first.stop:
            raise ValueError(f"windows '{first}' and '{second}' overlap")
    return tuple(ordered)


def _quiet_every_day(windows: tuple[Window, ...]) -> tuple[Window, ...]:
    """Quiet windows repeat daily, so the last one may run into the next day's first one; and
    they must leave some time each day, or no automated text could ever go out."""
    if len(windows) > 1 and windows[-1].stop - MINUTES_PER_DAY > windows[0].start:
        raise ValueError(
            f"windows '{windows[-1]}' and '{windows[0]}' overlap (quiet hours repeat every day)"
        )
    if sum(window.stop - window.start for window in windows) >= MINUTES_PER_DAY:
        raise ValueError("quiet hours cover the whole day: leave some time for texts to go out")
    return windows


def _parse_date(value: Any) -> date:
    if type(value) is date:
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"bad date {value!r}: must be a real date written YYYY-MM-DD")


def _parse_weekday(value: Any) -> str:
    if value not in WEEKDAYS:
        raise ValueError(f"unknown weekday {value!r}: use {', '.join(WEEKDAYS[:-1])} or sun")
    return str(value)


WindowText = Annotated[
    Window,
    PlainValidator(_parse_window),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _WINDOW.pattern, "examples": ["09:00-17:00"]}),
]
DayWindows = Annotated[
    tuple[WindowText, ...],
    BeforeValidator(_require_list("windows", "'09:00-17:00'")),
    AfterValidator(_no_overlaps),
]
LocalDate = Annotated[
    date,
    PlainValidator(_parse_date),
    PlainSerializer(date.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date"}),
]
QuietWindows = Annotated[DayWindows, AfterValidator(_quiet_every_day)]
Weekday = Annotated[str, PlainValidator(_parse_weekday), WithJsonSchema({"enum": list(WEEKDAYS)})]


class ScheduleSpec(BaseModel):
    """One named schedule: a time zone, weekly windows, holidays, one-off dates, quiet hours."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: StrictStr
    weekly: dict[Weekday, DayWindows] = Field(default_factory=dict)
    holidays: Annotated[
        tuple[LocalDate, ...], BeforeValidator(_require_list("dates", "'2026-12-25'"))
    ] = ()
    dates: dict[LocalDate, DayWindows] = Field(default_factory=dict)
    quiet_hours: QuietWindows = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("dates")
    @classmethod
    def _not_also_holidays(
        cls, dates: dict[date, tuple[Window, ...]], info: ValidationInfo
    ) -> dict[date, tuple[Window, ...]]:
        clashes = sorted(set(info.data.get("holidays", ())).intersection(dates))
        if clashes:
            raise ValueError(f"{clashes[0].isoformat()} is both in holidays and in dates: keep one")
        return dates


class ScheduleInvalid(WorkflowInvalid):
    """A schedule definition has problems; ``problems`` lists every one found."""


def _problem(error: Any) -> Problem:
    path: Path = tuple(part for part in error["loc"] if part != "[key]")
    if error["type"] == "extra_forbidden":
        return Problem(path, "unknown key")
    if error["type"] == "missing":
        return Problem(path, "required")
    message: str = error["msg"]
    return Problem(path, message.removeprefix("Value error, "))


def parse_spec(data: Any, source: str | None = None) -> ScheduleSpec:
    """Validate already-parsed ``data``; raise ``ScheduleInvalid`` listing every problem."""
    try:
        return ScheduleSpec.model_validate(data)
    except ValidationError as error:
        raise ScheduleInvalid(source, [_problem(detail) for detail in error.errors()]) from None
