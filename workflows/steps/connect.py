"""``connect``: connect the caller with an agent of a team, ringing whoever is free by the
team's ring strategy; with a ``queue``, callers wait on hold when nobody is.

Branches: ``on_answered`` (after the call with the agent ends), ``on_no_agents`` (nobody in
the team was free and there is no queue), ``on_timeout`` (agents were rung, none answered, and
there is no queue), ``on_voicemail`` / ``on_callback`` (a queued caller pressed 2 or 1, or the
queue's maximum wait ran out and its ``fallback`` says which). ``timeout``, ``voicemail`` and
``callback`` without their own branch take ``on_no_agents``, so one ``on_no_agents: voicemail``
covers every caller nobody took; anything else takes ``next``.

Each round rings the agents the team's ring strategy picks, for ``ring_timeout`` seconds;
those who did not answer are not rung again for this call, and the next round rings the next
free agent(s), up to ``max_rounds``; then the caller waits in the queue (without one: the
``timeout`` outcome). A queued caller offered to an agent who frees up rings that agent; if
they do not answer, the agent is set ``away`` and the caller goes back to their place in the
queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, StrictInt

from workflows.events import AgentsUnavailable, DialFinished, QueueLeft, Reply
from workflows.instructions import ConnectTeam, HoldQueue
from workflows.names import E164, AudioUrl, SpokenText
from workflows.people.agents import NAME_PATTERN
from workflows.steps.base import (
    End,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
    Wait,
)
from workflows.steps.say import spoken


class QueueParams(StepParams):
    """The hold queue callers wait in when nobody in the team is free."""

    max_wait: StrictInt = Field(
        default=600, ge=30, le=7200, description="seconds before the fallback"
    )
    announce_every: StrictInt = Field(
        default=30, ge=10, le=600, description="seconds between position announcements"
    )
    hold_music: AudioUrl | None = Field(
        default=None,
        description="a prompt id (pr_...) or an audio URL; default: the server's hold music",
    )
    fallback: Literal["voicemail", "callback"] = Field(
        default="voicemail", description="the outcome after max_wait"
    )


class ConnectParams(StepParams):
    """``connect: support`` or ``connect: {team, ring_timeout, max_rounds, caller_id, say,
    queue}``."""

    shorthand = "team"
    team: str = Field(pattern=NAME_PATTERN, description="the team whose agents to ring")
    ring_timeout: StrictInt = Field(
        default=20, ge=5, le=120, description="seconds each round rings its agents"
    )
    max_rounds: StrictInt = Field(
        default=3, ge=1, le=20, description="rounds of ringing before giving up or queueing"
    )
    caller_id: E164 | None = None
    say: SpokenText | None = Field(default=None, description="said before ringing")
    queue: QueueParams | None = Field(
        default=None, description="wait on hold when nobody is free (else on_no_agents)"
    )

    def instruction(
        self,
        tried: tuple[str, ...] = (),
        agent: str | None = None,
        missed: str | None = None,
        *,
        queue_only: bool = False,
    ) -> ConnectTeam:
        queue = self.queue
        hold = (
            None
            if queue is None
            else HoldQueue(queue.max_wait, queue.announce_every, queue.hold_music, queue.fallback)
        )
        return ConnectTeam(
            team=self.team,
            ring_timeout=self.ring_timeout,
            caller_id=self.caller_id,
            tried=tried,
            agent=agent,
            queue=hold,
            missed=missed,
            queue_only=queue_only,
        )


class ConnectKind(StepKind[ConnectParams]):
    name = "connect"
    params = ConnectParams
    waits = True
    outcomes = ("answered", "no_agents", "timeout", "voicemail", "callback")
    outcome_fallbacks: ClassVar[Mapping[str, str]] = {
        "timeout": "no_agents",
        "voicemail": "no_agents",
        "callback": "no_agents",
    }
    summary = "Ring a team's free agents by its ring strategy; hold queue; branch on the result."

    def exits(self, params: ConnectParams) -> tuple[str | None, ...]:
        return self.outcomes

    def enter(self, params: ConnectParams, ctx: RunContext) -> StepResult:
        if params.say:
            ctx.emit(spoken(params.say, ctx))
        ctx.step_state.update(tried=[], rounds=0, offered=None)
        ctx.facts["connect"] = {"team": params.team, "result": "ringing"}
        ctx.emit(params.instruction())
        return Wait()

    def resume(self, params: ConnectParams, ctx: RunContext, reply: Reply) -> StepResult:
        state = ctx.step_state
        tried: list[str] = state.setdefault("tried", [])
        record: dict[str, object] = ctx.facts.setdefault("connect", {"team": params.team})
        if isinstance(reply, DialFinished):
            offered = state.pop("offered", None)
            if reply.status == "answered":
                agent = reply.answered_by or offered or (reply.rung[0] if reply.rung else None)
                record.update(result="answered", agent=agent)
                ctx.facts["agent"] = agent
                return Next(outcome="answered")
            tried.extend(name for name in reply.rung if name not in tried)
            if offered is not None:  # back to their place in the queue
                ctx.emit(params.instruction(tuple(tried), missed=offered, queue_only=True))
                return Wait()
            state["rounds"] = rounds = int(state.get("rounds", 0)) + 1
            if rounds >= params.max_rounds:
                if params.queue is None:
                    record.update(result="timeout")
                    return Next(outcome="timeout")
                ctx.emit(params.instruction(tuple(tried), queue_only=True))
                return Wait()
            ctx.emit(params.instruction(tuple(tried)))
            return Wait()
        if isinstance(reply, AgentsUnavailable):
            outcome = "timeout" if tried else "no_agents"
            record.update(result=outcome)
            return Next(outcome=outcome)
        if isinstance(reply, QueueLeft):
            if reply.result == "offered" and reply.agent:
                state["offered"] = reply.agent
                ctx.emit(params.instruction(tuple(tried), agent=reply.agent))
                return Wait()
            if reply.result == "left" and reply.choice in ("voicemail", "callback"):
                record.update(result=reply.choice)
                return Next(outcome=reply.choice)
            record.update(result="hangup")
            return End()
        raise UnexpectedReply(f"connect got {type(reply).__name__}")


KIND = ConnectKind()
