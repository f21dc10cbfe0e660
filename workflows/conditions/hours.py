"""``open`` and ``closed``: whether a named schedule (business hours) is open now."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictStr, StringConstraints

from workflows.conditions.base import (
    Check,
    FilterContext,
    FilterKind,
    FilterModel,
    _Compiler,
    _leaf,
)
from workflows.problems import Path

ScheduleName = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]


class OpenFilter(FilterModel):
    kind_name: ClassVar[str] = "open"
    open: ScheduleName = Field(description="the named schedule is open now")


class ClosedFilter(FilterModel):
    kind_name: ClassVar[str] = "closed"
    closed: ScheduleName = Field(description="the named schedule is closed now")


def _compile_open(spec: OpenFilter, path: Path, compiler: _Compiler) -> Check:
    name = spec.open
    compiler.schedule(name, path)

    def check_open(ctx: FilterContext) -> bool:
        schedule = ctx.schedules.get(name)
        return schedule is not None and schedule.is_open(ctx.now)

    return check_open


def _compile_closed(spec: ClosedFilter, path: Path, compiler: _Compiler) -> Check:
    name = spec.closed
    compiler.schedule(name, path)

    def check_closed(ctx: FilterContext) -> bool:
        schedule = ctx.schedules.get(name)
        return schedule is not None and not schedule.is_open(ctx.now)

    return check_closed


def _schedule_reason(name: str, ctx: FilterContext, state: str) -> str:
    if name not in ctx.schedules:
        return f"schedule {name!r} is not defined"
    return f"schedule {name!r} is {state}"


def _why_not_open(spec: OpenFilter, ctx: FilterContext) -> str:
    return _schedule_reason(spec.open, ctx, "closed")


def _why_not_closed(spec: ClosedFilter, ctx: FilterContext) -> str:
    return _schedule_reason(spec.closed, ctx, "open")


OPEN = FilterKind(
    "open",
    OpenFilter,
    _compile_open,
    _leaf(_compile_open, _why_not_open),
    "the named schedule is open now",
)
CLOSED = FilterKind(
    "closed",
    ClosedFilter,
    _compile_closed,
    _leaf(_compile_closed, _why_not_closed),
    "the named schedule is closed now",
)
