"""``channel``, ``called``, ``outcome`` and ``duration``: facts of the event itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field, PlainValidator, StrictInt, WithJsonSchema, model_validator

from workflows.channels import CHAT, SMS, VOICE
from workflows.conditions.base import (
    Check,
    FilterContext,
    FilterKind,
    FilterModel,
    Strict,
    _choice,
    _Compiler,
    _leaf,
    _many,
    _words,
)
from workflows.names import E164
from workflows.problems import Path
from workflows.triggers import CALL_OUTCOMES

CHANNELS = (VOICE, SMS, CHAT)
Channel = Annotated[
    str, PlainValidator(_choice("channel", CHANNELS)), WithJsonSchema({"enum": list(CHANNELS)})
]
Outcome = Annotated[
    str,
    PlainValidator(_choice("call outcome", CALL_OUTCOMES)),
    WithJsonSchema({"enum": list(CALL_OUTCOMES)}),
]


if TYPE_CHECKING:
    Channels = tuple[str, ...]
    Outcomes = tuple[str, ...]
    Numbers = tuple[str, ...]
else:
    Channels = _many(Channel)
    Outcomes = _many(Outcome)
    Numbers = _many(E164)


class DurationRange(Strict):
    """Bounds in seconds, both inclusive; at least one."""

    min: StrictInt | None = Field(default=None, ge=0)
    max: StrictInt | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> DurationRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both (seconds)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ChannelFilter(FilterModel):
    kind_name: ClassVar[str] = "channel"
    channel: Channels = Field(description="the conversation is on one of these channels")


class CalledFilter(FilterModel):
    kind_name: ClassVar[str] = "called"
    called: Numbers = Field(description="the number called or texted is one of these (E.164)")


class OutcomeFilter(FilterModel):
    kind_name: ClassVar[str] = "outcome"
    outcome: Outcomes = Field(description="the call ended with one of these outcomes")


class DurationFilter(FilterModel):
    kind_name: ClassVar[str] = "duration"
    duration: DurationRange


# channel / called / outcome


def _compile_channel(spec: ChannelFilter, path: Path, compiler: _Compiler) -> Check:
    channels = frozenset(spec.channel)

    def check_channel(ctx: FilterContext) -> bool:
        return ctx.channel in channels

    return check_channel


def _why_not_channel(spec: ChannelFilter, ctx: FilterContext) -> str:
    return f"channel is {ctx.channel!r}, not {_words(spec.channel)}"


def _compile_called(spec: CalledFilter, path: Path, compiler: _Compiler) -> Check:
    numbers = frozenset(spec.called)

    def check_called(ctx: FilterContext) -> bool:
        return ctx.called in numbers

    return check_called


def _why_not_called(spec: CalledFilter, ctx: FilterContext) -> str:
    if ctx.called is None:
        return "no called number"
    return f"called number is {ctx.called}, not {_words(spec.called)}"


def _compile_outcome(spec: OutcomeFilter, path: Path, compiler: _Compiler) -> Check:
    outcomes = frozenset(spec.outcome)

    def check_outcome(ctx: FilterContext) -> bool:
        return ctx.outcome in outcomes

    return check_outcome


def _why_not_outcome(spec: OutcomeFilter, ctx: FilterContext) -> str:
    if ctx.outcome is None:
        return "no call outcome"
    return f"outcome is {ctx.outcome!r}, not {_words(spec.outcome)}"


# duration


def _compile_duration(spec: DurationFilter, path: Path, compiler: _Compiler) -> Check:
    low = spec.duration.min
    high = spec.duration.max

    def check_duration(ctx: FilterContext) -> bool:
        seconds = ctx.duration
        return (
            seconds is not None
            and (low is None or seconds >= low)
            and (high is None or seconds <= high)
        )

    return check_duration


def _why_not_duration(spec: DurationFilter, ctx: FilterContext) -> str:
    seconds = ctx.duration
    if seconds is None:
        return "no duration"
    low = spec.duration.min
    if low is not None and seconds < low:
        return f"duration is {seconds}s, under the minimum {low}s"
    return f"duration is {seconds}s, over the maximum {spec.duration.max}s"


CHANNEL = FilterKind(
    "channel",
    ChannelFilter,
    _compile_channel,
    _leaf(_compile_channel, _why_not_channel),
    "the conversation's channel",
)
CALLED = FilterKind(
    "called",
    CalledFilter,
    _compile_called,
    _leaf(_compile_called, _why_not_called),
    "the number called or texted",
)
OUTCOME = FilterKind(
    "outcome",
    OutcomeFilter,
    _compile_outcome,
    _leaf(_compile_outcome, _why_not_outcome),
    "how the call ended",
)
DURATION = FilterKind(
    "duration",
    DurationFilter,
    _compile_duration,
    _leaf(_compile_duration, _why_not_duration),
    "the call lasted between min and max seconds",
)
