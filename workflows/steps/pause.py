"""``pause``: silence for a number of seconds, then go on."""

from __future__ import annotations

from pydantic import Field, StrictInt

from workflows.instructions import Pause
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult


class PauseParams(StepParams):
    """``pause: 2`` or ``pause: {seconds: 2}``."""

    shorthand = "seconds"
    seconds: StrictInt = Field(ge=1, le=60)


class PauseKind(StepKind[PauseParams]):
    name = "pause"
    params = PauseParams
    summary = "Stay silent for 1 to 60 seconds, then continue with `next`."

    def enter(self, params: PauseParams, ctx: RunContext) -> StepResult:
        ctx.emit(Pause(seconds=params.seconds))
        return Next()


KIND = PauseKind()
