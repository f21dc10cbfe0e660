"""``branch``: go to the step named for a variable's value, or for the first filter that
matches (the same filter language, and the same compiler, as a trigger's ``when``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from workflows.conditions import Check, Filter, FilterContext, compile_filter
from workflows.names import StepName, VarPath
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


class BranchChoice(BaseModel):
    """``{when: FILTER, next: STEP}``: go to ``next`` when the filter matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    when: Filter
    next: StepName
    _check: Check | None = PrivateAttr(default=None)

    def matches(self, ctx: FilterContext) -> bool:
        """Whether the filter matches ``ctx`` (compiled on first use, then kept; the
        schedules it names are checked when the workflow is installed)."""
        if self._check is None:
            self._check = compile_filter(self.when, None)
        return self._check(ctx)


class BranchParams(StepParams):
    """``branch: {on: vars.tier, cases: {vip: vip_menu}, else: main}`` or
    ``branch: {choices: [{when: {open: office}, next: open_menu}], else: closed}``.

    With ``on``, values are compared as text (``true``/``false`` for booleans); a missing
    variable or an unlisted value takes ``else``. With ``choices``, the first whose filter
    matches wins, else ``else``. Without ``else``: the step's ``next``.
    """

    on: VarPath | None = None
    cases: dict[str, StepName] | None = Field(default=None, min_length=1)
    choices: tuple[BranchChoice, ...] = Field(
        default=(),
        max_length=50,
        description="filters tried in order, written as in a trigger's `when`",
    )
    otherwise: StepName | None = Field(default=None, alias="else")

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.choices:
            if self.on is not None or self.cases is not None:
                raise ValueError("branch takes either `choices` or `on` with `cases`, not both")
        elif self.on is None or self.cases is None:
            raise ValueError("branch needs `on` with `cases`, or `choices`")
        return self


def as_text(value: object) -> str | None:
    """How a variable's value reads when compared with a case label."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def filter_context(ctx: RunContext) -> FilterContext:
    """What a branch's filters see of a turn: the same facts a trigger's ``when`` sees of
    the event that started the run (channel, number called, contact, text answered, call
    outcome) at the moment of the turn."""
    call = ctx.call
    message = ctx.roots.get("message") or {}
    body = message.get("body")
    outcome, duration = call.get("outcome"), call.get("duration")
    return FilterContext(
        now=ctx.clock(),
        channel=ctx.channel,
        called=_text(call.get("to")),
        text=body if isinstance(body, str) else None,
        contact=ctx.roots.get("contact") or {},
        outcome=outcome if isinstance(outcome, str) else None,
        duration=duration if isinstance(duration, int) else None,
        schedules=ctx.schedules,
        conversation=ctx.roots.get("conversation"),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class BranchKind(StepKind[BranchParams]):
    name = "branch"
    params = BranchParams
    channels = frozenset({VOICE, SMS, CHAT})
    summary = (
        "Jump to the step listed for a variable's value (`cases`), or for the first filter"
        " that matches (`choices`), else to `else`."
    )

    def targets(self, params: BranchParams) -> Iterator[tuple[tuple[str, ...], str]]:
        for label, step in (params.cases or {}).items():
            yield ("branch", "cases", label), step
        for index, choice in enumerate(params.choices):
            yield ("branch", "choices", str(index), "next"), choice.next
        if params.otherwise is not None:
            yield ("branch", "else"), params.otherwise

    def falls_through(self, params: BranchParams) -> bool:
        return params.otherwise is None

    def enter(self, params: BranchParams, ctx: RunContext) -> StepResult:
        if params.choices:
            seen = filter_context(ctx)
            for choice in params.choices:
                if choice.matches(seen):
                    return Next(target=choice.next)
            return Next(target=params.otherwise)
        value = as_text(ctx.lookup(params.on or ""))
        cases = params.cases or {}
        if value is not None and value in cases:
            return Next(target=cases[value])
        return Next(target=params.otherwise)


KIND = BranchKind()
