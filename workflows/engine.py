"""Start and resume workflow runs. Pure: no I/O, no per-kind logic (that lives in steps/).

A run advances step by step until a step waits for its channel (a menu waiting for keys, a dial
waiting for its outcome) or the workflow ends. The caller persists the returned ``RunState``
and renders the returned instructions; the next reply resumes the run at its cursor, on any
server instance.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from workflows.events import Reply
from workflows.instructions import Instruction
from workflows.knowledge import KnowledgeBase
from workflows.loader import Workflow
from workflows.schedules.book import OpenHours
from workflows.steps.base import End, Next, RunContext, StepResult, Wait
from workflows.triggers import trigger_kind

RunStatus = Literal["waiting", "completed"]
DEFAULT_STEP_LIMIT = 50


class EngineError(Exception):
    """A run cannot go on; ``state`` is the run as far as it got.

    Tree: ``EngineError`` > ``StepFailed`` (a step raised; the cause is chained),
    ``StepLimitExceeded``, ``RunNotWaiting``.
    """

    def __init__(self, message: str, state: RunState) -> None:
        super().__init__(message)
        self.state = state


class StepFailed(EngineError):
    """A step raised while it ran."""


class StepLimitExceeded(EngineError):
    """A turn ran more steps than allowed without waiting: a loop that never asks the caller."""


class RunNotWaiting(EngineError):
    """A reply arrived for a run that is not waiting for one."""


@dataclass
class RunState:
    """Everything needed to resume a run; stored as JSON between turns."""

    cursor: str | None
    status: RunStatus = "waiting"
    vars: dict[str, Any] = field(default_factory=dict)
    step_state: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data for the database (shares this state's lists and dicts)."""
        return {
            "cursor": self.cursor,
            "status": self.status,
            "vars": self.vars,
            "step_state": self.step_state,
            "facts": self.facts,
            "path": self.path,
            "keys": self.keys,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        """The state stored by ``to_json``, copied: the engine changes its state in place."""
        return cls(
            cursor=data["cursor"],
            status=data["status"],
            vars=dict(data["vars"]),
            step_state=dict(data["step_state"]),
            facts=copy.deepcopy(data["facts"]) if data["facts"] else {},
            path=list(data["path"]),
            keys=list(data["keys"]),
        )


@dataclass(frozen=True, slots=True)
class Turn:
    """What one turn produced: the new state and the instructions for the channel."""

    state: RunState
    instructions: tuple[Instruction, ...]

    @property
    def finished(self) -> bool:
        """Whether the run ended in this turn."""
        return self.state.status == "completed"


class Engine:
    """Runs workflows. ``step_limit`` caps the steps one turn may run without waiting."""

    def __init__(self, step_limit: int = DEFAULT_STEP_LIMIT) -> None:
        self.step_limit = step_limit

    def start(
        self,
        workflow: Workflow,
        call: Mapping[str, Any],
        *,
        now: datetime | None = None,
        roots: Mapping[str, Mapping[str, Any]] | None = None,
        facts: Mapping[str, Any] | None = None,
        schedules: Mapping[str, OpenHours] | None = None,
        knowledge: KnowledgeBase | None = None,
    ) -> Turn:
        """Begin a run at the workflow's start step, knowing ``facts`` from the start;
        ``schedules`` are what a ``branch`` filter's ``open``/``closed`` asks."""
        state = RunState(cursor=workflow.spec.start, facts=dict(facts or {}))
        ctx = self._context(workflow, state, call, now, roots, schedules, knowledge)
        return self._advance(workflow, state, ctx, None)

    def resume(
        self,
        workflow: Workflow,
        state: RunState,
        reply: Reply,
        call: Mapping[str, Any],
        *,
        now: datetime | None = None,
        roots: Mapping[str, Mapping[str, Any]] | None = None,
        schedules: Mapping[str, OpenHours] | None = None,
        knowledge: KnowledgeBase | None = None,
    ) -> Turn:
        """Hand ``reply`` to the waiting step and run on until the next wait or the end."""
        if state.status != "waiting" or state.cursor is None:
            raise RunNotWaiting(
                f"run is {state.status}, not waiting for {type(reply).__name__}", state
            )
        ctx = self._context(workflow, state, call, now, roots, schedules, knowledge)
        step = workflow.spec.step(state.cursor)
        try:
            result = step.kind.resume(step.params, ctx, reply)
        except Exception as error:
            raise StepFailed(f"step {state.cursor!r} failed: {error!r}", state) from error
        return self._advance(workflow, state, ctx, result)

    @staticmethod
    def _context(
        workflow: Workflow,
        state: RunState,
        call: Mapping[str, Any],
        now: datetime | None,
        roots: Mapping[str, Mapping[str, Any]] | None,
        schedules: Mapping[str, OpenHours] | None,
        knowledge: KnowledgeBase | None = None,
    ) -> RunContext:
        return RunContext(
            channel=trigger_kind(workflow.spec.trigger.event).channel,
            vars=state.vars,
            step_state=state.step_state,
            facts=state.facts,
            call=call,
            language=workflow.spec.defaults.language,
            voice=workflow.spec.defaults.voice,
            keys=state.keys,
            now=now,
            roots=roots or {},
            schedules=schedules or {},
            knowledge=knowledge,
        )

    def _advance(
        self, workflow: Workflow, state: RunState, ctx: RunContext, result: StepResult | None
    ) -> Turn:
        """Apply ``result`` of the current step (None: enter the cursor) until a wait or end."""
        for _ in range(self.step_limit):
            if result is None:
                assert state.cursor is not None
                step = workflow.spec.step(state.cursor)
                state.path.append(state.cursor)
                state.step_state.clear()
                try:
                    result = step.kind.enter(step.params, ctx)
                except Exception as error:
                    message = f"step {state.cursor!r} failed: {error!r}"
                    raise StepFailed(message, state) from error
            if isinstance(result, Wait):
                state.status = "waiting"
                return Turn(state, tuple(ctx.instructions))
            if isinstance(result, End):
                return self._finish(state, ctx)
            assert isinstance(result, Next)
            assert state.cursor is not None
            here = workflow.spec.step(state.cursor)
            target = result.target or here.route(result.outcome)
            if target is None:
                return self._finish(state, ctx)
            state.cursor = target
            result = None
        raise StepLimitExceeded(
            f"more than {self.step_limit} steps in one turn without waiting (at {state.cursor!r})",
            state,
        )

    @staticmethod
    def _finish(state: RunState, ctx: RunContext) -> Turn:
        state.status = "completed"
        state.cursor = None
        state.step_state.clear()
        return Turn(state, tuple(ctx.instructions))
