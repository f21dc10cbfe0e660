"""``snooze``: snooze the conversation for a while (it opens again then, or sooner when the
contact writes)."""

from __future__ import annotations

from pydantic import Field, field_validator

from workflows.instructions import ChangeConversation
from workflows.names import Duration
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS


class SnoozeParams(StepParams):
    """``snooze: 4h`` or ``snooze: {duration}``."""

    shorthand = "duration"
    duration: Duration = Field(description="how long, e.g. 30m, 4h, 1d (more than 0)")

    @field_validator("duration")
    @classmethod
    def _some_time(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("a snooze lasts more than 0 seconds")
        return value


class SnoozeKind(StepKind[SnoozeParams]):
    name = "snooze"
    params = SnoozeParams
    channels = CONVERSATION_CHANNELS
    summary = "Snooze the conversation for `duration` (it opens again then), then continue."

    def enter(self, params: SnoozeParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("snooze", {"seconds": params.duration}))
        return Next()


KIND = SnoozeKind()
