"""``survey``: ask the contact for a 1-5 rating (and, if the step says so, a comment).

On a text channel the question goes out with numbered options ("1. Very poor" ... "5.
Excellent"); the answer is the number, or an option's label ("good"). An answer that is not
a rating gets ``invalid`` and the question once more; a second one ends the survey without a
rating (``on_unrated``, else ``next``). With ``comment`` set, a rating is followed by that
question, and the contact's next message is kept as the comment (no answer within
``timeout``: the rating is kept without one). No answer to the rating within ``timeout``
ends the survey without a rating too. ``thanks``, if given, is sent once a rating is kept.

The answer is kept by a ``RecordRating`` instruction: the session service stores it against
the run's conversation and its assignee at that moment, and adds it to the conversation's
timeline, in the transaction that saves the turn. ``save_as`` also puts the rating (an
integer) in a run variable, for a later ``branch`` ("a low rating alerts the team").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from workflows.events import DigitsReceived, Reply, TimerFired
from workflows.instructions import RecordRating, Say
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

UNRATED = "unrated"
TRIES = 2
"""Answers that are not a rating before the survey gives up (the question is asked again
once in between)."""

Label = Annotated[str, StringConstraints(min_length=1, max_length=40)]
RATING = "rating"
COMMENT = "comment"


class SurveyParams(StepParams):
    """``survey: "How did we do?"`` or ``survey: {question, labels, invalid, comment, ...}``."""

    shorthand = "question"
    question: Question = Field(
        default="How would you rate our help? Reply 1-5.",
        description="the rating question; the options 1-5 follow it; templates allowed",
    )
    labels: tuple[Label, Label, Label, Label, Label] = Field(
        default=("Very poor", "Poor", "OK", "Good", "Excellent"),
        description="the words of the ratings 1 to 5",
    )
    invalid: Question = Field(
        default="Sorry, please reply with a number from 1 to 5.",
        description="sent before the question is asked again",
    )
    comment: Question | None = Field(
        default=None, description="a follow-up question whose answer is kept as a comment"
    )
    thanks: Question | None = Field(
        default=None, description="sent once the rating (and comment) is kept"
    )
    timeout: Timeout = Field(
        default=DEFAULT_TIMEOUT, description="how long each question waits for its answer"
    )
    save_as: VarName | None = Field(default=None, description="a run variable for the rating")

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """The numbered options a text channel lists."""
        return tuple((str(number), label) for number, label in enumerate(self.labels, start=1))


def rating_in(params: SurveyParams, answer: str) -> int | None:
    """The rating ``answer`` gives (``"4"``, ``" 4 "``, ``"good"``), or None."""
    text = answer.strip().rstrip(".!").casefold()
    if text in {"1", "2", "3", "4", "5"}:
        return int(text)
    for number, label in enumerate(params.labels, start=1):
        if text == label.casefold():
            return number
    return None


class SurveyKind(StepKind[SurveyParams]):
    name = "survey"
    params = SurveyParams
    channels = frozenset({SMS, CHAT})
    outcomes = (UNRATED,)
    waits = True
    summary = "Ask for a 1-5 rating (and a comment); keep it against the conversation."

    def enter(self, params: SurveyParams, ctx: RunContext) -> StepResult:
        ctx.step_state.update(phase=RATING, failures=0)
        return ask(ctx, (worded(ctx, params.question),), params.timeout, params.choices)

    def resume(self, params: SurveyParams, ctx: RunContext, reply: Reply) -> StepResult:
        phase = ctx.step_state.get("phase", RATING)
        if isinstance(reply, TimerFired):
            if phase == COMMENT:
                return self._keep(params, ctx, ctx.step_state["rating"], None)
            return self._give_up(ctx, "timeout")
        if not isinstance(reply, DigitsReceived):
            raise UnexpectedReply(f"survey got {type(reply).__name__}")
        answer = reply.speech or reply.digits
        if phase == COMMENT:
            return self._keep(params, ctx, ctx.step_state["rating"], answer.strip() or None)
        rating = rating_in(params, answer)
        if rating is None:
            ctx.step_state["failures"] = ctx.step_state.get("failures", 0) + 1
            if ctx.step_state["failures"] >= TRIES:
                return self._give_up(ctx, "invalid")
            lines = (worded(ctx, params.invalid), worded(ctx, params.question))
            return ask(ctx, lines, params.timeout, params.choices)
        if params.save_as:
            ctx.vars[params.save_as] = rating
        if params.comment is None:
            return self._keep(params, ctx, rating, None)
        ctx.step_state.update(phase=COMMENT, rating=rating)
        return ask(ctx, (worded(ctx, params.comment),), params.timeout)

    @staticmethod
    def _keep(
        params: SurveyParams, ctx: RunContext, rating: int, comment: str | None
    ) -> StepResult:
        ctx.emit(RecordRating(rating, comment, "rated"))
        if params.thanks is not None:
            ctx.emit(Say(worded(ctx, params.thanks), language=ctx.language))
        return Next()

    @staticmethod
    def _give_up(ctx: RunContext, why: Literal["invalid", "timeout"]) -> StepResult:
        ctx.emit(RecordRating(None, None, why))
        return Next(outcome=UNRATED)


KIND = SurveyKind()
