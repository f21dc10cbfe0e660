"""``dial``: ring one or several parties and connect the first who answers.

Branches: ``on_answered`` (after the answered call ends), ``on_no_answer``, ``on_busy`` and
``on_failed``. A busy line or a failed attempt without its own branch takes ``on_no_answer``,
so one ``on_no_answer: voicemail`` covers every unanswered call; anything else takes ``next``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

from pydantic import Field, StrictInt, model_validator

from workflows.events import DialFinished, Reply
from workflows.instructions import Dial, DialTarget
from workflows.names import E164, SpokenText
from workflows.steps.base import (
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
    Wait,
)
from workflows.steps.say import spoken

SipUri = str
MAX_TARGETS = 10


class DialParams(StepParams):
    """``dial: "+15550001111"`` or ``dial: {number|numbers|sip|client, timeout, caller_id}``."""

    shorthand = "number"
    number: E164 | None = None
    numbers: tuple[E164, ...] = ()
    sip: tuple[SipUri, ...] = Field(default=(), description="SIP URIs (sip:user@host)")
    client: tuple[str, ...] = Field(
        default=(), description="client endpoints (browser or app softphones, by identity)"
    )
    timeout: StrictInt = Field(default=20, ge=5, le=600, description="seconds to ring")
    caller_id: E164 | None = None
    say: SpokenText | None = Field(default=None, description="said before ringing")

    @model_validator(mode="after")
    def _check_targets(self) -> Self:
        count = len(self.targets)
        if count == 0:
            raise ValueError("dial needs someone to ring: `number`, `numbers`, `sip` or `client`")
        if count > MAX_TARGETS:
            raise ValueError(f"dial rings at most {MAX_TARGETS} parties at once, not {count}")
        for uri in self.sip:
            if not uri.startswith(("sip:", "sips:")) or "@" not in uri:
                raise ValueError(f"sip: {uri!r} is not a SIP URI like sip:agent@pbx.example.com")
        return self

    @property
    def targets(self) -> tuple[DialTarget, ...]:
        """Everyone to ring, in the order written."""
        numbers = ((self.number,) if self.number else ()) + self.numbers
        return (
            tuple(DialTarget("number", n) for n in numbers)
            + tuple(DialTarget("sip", uri) for uri in self.sip)
            + tuple(DialTarget("client", name) for name in self.client)
        )


class DialKind(StepKind[DialParams]):
    name = "dial"
    params = DialParams
    waits = True
    outcomes = ("answered", "no_answer", "busy", "failed")
    outcome_fallbacks: ClassVar[Mapping[str, str]] = {"busy": "no_answer", "failed": "no_answer"}
    summary = "Ring numbers, SIP URIs or clients; branch on answered, no answer, busy, failed."

    def exits(self, params: DialParams) -> tuple[str | None, ...]:
        # A dial always ends with one of its outcomes (which may fall back to `next`).
        return self.outcomes

    def enter(self, params: DialParams, ctx: RunContext) -> StepResult:
        if params.say:
            ctx.emit(spoken(params.say, ctx))
        ctx.emit(Dial(targets=params.targets, timeout=params.timeout, caller_id=params.caller_id))
        # Until the dial's outcome arrives: a caller who hangs up now was never answered.
        ctx.facts["ringing"] = True
        return Wait()

    def resume(self, params: DialParams, ctx: RunContext, reply: Reply) -> StepResult:
        if not isinstance(reply, DialFinished):
            raise UnexpectedReply(f"dial got {type(reply).__name__}")
        ctx.facts.pop("ringing", None)
        attempts: list[dict[str, object]] = ctx.facts.setdefault("dials", [])
        attempts.append({"status": reply.status, "duration": reply.duration})
        if reply.status == "answered":
            ctx.facts["agent"] = reply.answered_by or params.targets[0].address
        return Next(outcome=reply.status)


KIND = DialKind()
