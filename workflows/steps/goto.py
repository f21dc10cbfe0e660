"""``goto``: jump to another step."""

from __future__ import annotations

from collections.abc import Iterator

from workflows.names import StepName
from workflows.steps.base import (
    CHAT,
    SMS,
    VOICE,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
)


class GotoParams(StepParams):
    """``goto: step_name``."""

    shorthand = "step"
    step: StepName


class GotoKind(StepKind[GotoParams]):
    name = "goto"
    params = GotoParams
    channels = frozenset({VOICE, SMS, CHAT})
    summary = "Jump to the named step."

    def targets(self, params: GotoParams) -> Iterator[tuple[tuple[str, ...], str]]:
        yield ("goto",), params.step

    def falls_through(self, params: GotoParams) -> bool:
        return False

    def enter(self, params: GotoParams, ctx: RunContext) -> StepResult:
        return Next(target=params.step)


KIND = GotoKind()
