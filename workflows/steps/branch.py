"""``branch``: go to the step named for a variable's value."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

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
from workflows.steps.names import StepName, VarPath


class BranchParams(StepParams):
    """``branch: {on: vars.tier, cases: {vip: vip_menu}, else: main}``.

    Values are compared as text (``true``/``false`` for booleans); a missing variable or an
    unlisted value takes ``else``, or the step's ``next`` when there is no ``else``.
    """

    on: VarPath
    cases: dict[str, StepName] = Field(min_length=1)
    otherwise: StepName | None = Field(default=None, alias="else")


def as_text(value: object) -> str | None:
    """How a variable's value reads when compared with a case label."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class BranchKind(StepKind[BranchParams]):
    name = "branch"
    params = BranchParams
    channels = frozenset({VOICE, SMS, CHAT})
    summary = "Jump to the step listed for a variable's value (`cases`), else to `else`."

    def targets(self, params: BranchParams) -> Iterator[tuple[tuple[str, ...], str]]:
        for label, step in params.cases.items():
            yield ("branch", "cases", label), step
        if params.otherwise is not None:
            yield ("branch", "else"), params.otherwise

    def falls_through(self, params: BranchParams) -> bool:
        return params.otherwise is None

    def enter(self, params: BranchParams, ctx: RunContext) -> StepResult:
        value = as_text(ctx.lookup(params.on))
        if value is not None and value in params.cases:
            return Next(target=params.cases[value])
        return Next(target=params.otherwise)


KIND = BranchKind()
