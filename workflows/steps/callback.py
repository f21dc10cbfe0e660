"""``callback``: the caller asks a team to call them back, at the number they call from.

``callback: support`` or ``callback: {team, attempts, retry_delay, say}``. The request is
recorded (and its placing job queued) in the transaction that saves the turn, with the
caller's place in line at this moment; the caller hears ``say`` (a confirmation), then the
workflow goes on with ``next`` (typically a goodbye and a hangup). The callback itself
happens later (:mod:`workflows.callbacks`): during the team's business hours, when one of
its agents is free, Ringflow calls the agent, then the caller; the caller is rung up to
``attempts`` times, ``retry_delay`` apart. A team that does not exist when the turn is saved
(it was deleted) is logged and the call goes on.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from workflows.callbacks.requests import DEFAULT_ATTEMPTS, DEFAULT_RETRY_DELAY
from workflows.instructions import RequestCallback
from workflows.names import Duration, SpokenText
from workflows.people.agents import NAME_PATTERN
from workflows.steps.base import VOICE, Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.say import spoken

CONFIRMATION = (
    "Thank you. We will call you back at this number as soon as someone is free. Goodbye."
)


class CallbackParams(StepParams):
    """``callback: support`` or ``callback: {team, attempts, retry_delay, say}``."""

    shorthand = "team"
    team: str = Field(pattern=NAME_PATTERN, description="the team that calls back")
    attempts: int = Field(
        default=DEFAULT_ATTEMPTS, ge=1, le=10, description="times the caller is rung at most"
    )
    retry_delay: Duration = Field(
        default=int(DEFAULT_RETRY_DELAY.total_seconds()),
        description="how long after an unanswered attempt the next one is made (30s to 1d)",
    )
    say: SpokenText = Field(default=CONFIRMATION, description="the confirmation the caller hears")

    @model_validator(mode="after")
    def _check_delay(self) -> Self:
        if not 30 <= self.retry_delay <= 86400:
            raise ValueError(f"retry_delay must be between 30s and 1d, not {self.retry_delay} s")
        return self


class CallbackKind(StepKind[CallbackParams]):
    name = "callback"
    params = CallbackParams
    channels = frozenset({VOICE})
    summary = "Record a callback request for a team (the caller keeps their place), confirm it."

    def enter(self, params: CallbackParams, ctx: RunContext) -> StepResult:
        ctx.emit(spoken(params.say, ctx))
        ctx.emit(RequestCallback(params.team, params.attempts, params.retry_delay))
        ctx.facts["callback"] = params.team
        return Next()


KIND = CallbackKind()
