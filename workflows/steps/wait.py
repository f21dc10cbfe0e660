"""``wait``: pause a text conversation for a while, or until a time of day, then go on.

``wait: 10m`` (or ``{delay: 2h}``) waits that long; ``{until: "09:00"}`` waits for the next
09:00 in ``timezone`` (default: the zone of the workflow's ``hours`` schedule, else UTC);
``{until: open}`` waits until the workflow's ``hours`` schedule opens next (at once if it is
open). The channel turns the wait into a durable timer job, so a restart loses nothing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, field_validator, model_validator

from workflows.events import Reply, TimerFired
from workflows.instructions import WaitUntil
from workflows.names import UNTIL, Duration
from workflows.steps.base import (
    CHAT,
    SMS,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
    Wait,
)

OPEN = "open"
Until = Annotated[str, StringConstraints(pattern=UNTIL)]


class WaitParams(StepParams):
    """``wait: 10m``, ``wait: {delay: 2h}``, ``wait: {until: "09:00"}``, ``{until: open}``."""

    shorthand = "delay"
    delay: Duration | None = Field(default=None, description="how long to wait")
    until: Until | None = Field(
        default=None, description="a time of day HH:MM, or `open` (the `hours` schedule opens)"
    )
    timezone: str | None = Field(default=None, description="the zone of `until`, e.g. Asia/Seoul")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.delay is None) == (self.until is None):
            raise ValueError("give either `delay` or `until`")
        if self.until == OPEN and self.timezone is not None:
            raise ValueError("`until: open` follows the schedule's own zone: drop `timezone`")
        return self


def _zone(params: WaitParams, schedule: Any) -> ZoneInfo:
    if params.timezone is not None:
        return ZoneInfo(params.timezone)
    name = schedule.get("timezone") if schedule is not None else None
    return ZoneInfo(name) if isinstance(name, str) else ZoneInfo("UTC")


def next_clock_time(now: datetime, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    """The first moment after ``now`` that reads ``hour:minute`` in ``zone`` (a time that a
    DST change skips that day is read with the offset before the change)."""
    local = now.astimezone(zone)
    day = local.date()
    for _ in range(3):
        candidate = datetime.combine(day, time(hour, minute), zone)
        if candidate > now:
            return candidate
        day += timedelta(days=1)
    raise AssertionError("a time of day comes round within three days")


def due(params: WaitParams, ctx: RunContext) -> datetime:
    """When the wait ends."""
    now = ctx.clock()
    if params.delay is not None:
        return now + timedelta(seconds=params.delay)
    schedule = ctx.roots.get("schedule")
    if params.until == OPEN:
        opens = schedule.get("next_open_at") if schedule is not None else None
        if not isinstance(opens, datetime):
            raise ValueError("`until: open` needs the workflow's `hours` schedule")
        return max(opens, now)
    assert params.until is not None
    hour, minute = (int(part) for part in params.until.split(":"))
    return next_clock_time(now, hour, minute, _zone(params, schedule))


class WaitKind(StepKind[WaitParams]):
    name = "wait"
    params = WaitParams
    channels = frozenset({SMS, CHAT})
    waits = True
    summary = "Wait for a delay or until a time (or until `hours` opens), then go on."

    def needs_hours(self, params: WaitParams) -> bool:
        return params.until == OPEN

    def enter(self, params: WaitParams, ctx: RunContext) -> StepResult:
        ctx.emit(WaitUntil(due(params, ctx)))
        return Wait()

    def resume(self, params: WaitParams, ctx: RunContext, reply: Reply) -> StepResult:
        if not isinstance(reply, TimerFired):
            raise UnexpectedReply(f"wait got {type(reply).__name__}")
        return Next()


KIND = WaitKind()
