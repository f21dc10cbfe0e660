"""``ask``: text the contact a question and keep the answer in a run variable.

``ask: {question: "Which order is it about?", save_as: order}`` waits for the contact's
next message; its text lands in ``vars.order`` for later steps' templates and filters
(``{{vars.order}}``, ``branch`` on ``vars.order``). When no answer comes within ``timeout``
(a durable timer, default a day) the run goes to ``on_timeout`` (else ``next``) with the
variable unset; an answer that arrives before the timer fires wins (see
:mod:`workflows.steps.asking`).
"""

from __future__ import annotations

from pydantic import Field

from workflows.events import DigitsReceived, Reply, TimerFired
from workflows.names import VarName
from workflows.steps.asking import DEFAULT_TIMEOUT, Question, Timeout, ask, worded
from workflows.steps.base import (
    CHAT,
    SMS,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
)

TIMEOUT = "timeout"


class AskParams(StepParams):
    """The question, where its answer goes, and how long it waits."""

    question: Question = Field(description="what to ask; templates allowed")
    save_as: VarName = Field(description="the run variable that gets the answer's text")
    timeout: Timeout = Field(default=DEFAULT_TIMEOUT, description="how long to wait")


class AskKind(StepKind[AskParams]):
    name = "ask"
    params = AskParams
    channels = frozenset({SMS, CHAT})
    outcomes = (TIMEOUT,)
    waits = True
    summary = "Ask the contact a question; the answer goes into a variable (or `on_timeout`)."

    def enter(self, params: AskParams, ctx: RunContext) -> StepResult:
        return ask(ctx, (worded(ctx, params.question),), params.timeout)

    def resume(self, params: AskParams, ctx: RunContext, reply: Reply) -> StepResult:
        if isinstance(reply, TimerFired):
            return Next(outcome=TIMEOUT)
        if isinstance(reply, DigitsReceived):
            ctx.vars[params.save_as] = reply.speech.strip() or reply.digits
            return Next()
        raise UnexpectedReply(f"ask got {type(reply).__name__}")


KIND = AskKind()
