"""``assign``: give the conversation to a team (whose strategy picks an agent) or an agent."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from workflows.instructions import ChangeConversation
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS, Handle


class AssignParams(StepParams):
    """``assign: {team}``, ``assign: {agent}`` or both; ``assign: support`` names a team."""

    shorthand = "team"
    team: Handle | None = Field(
        default=None, description="the team; without `agent` its strategy picks one"
    )
    agent: Handle | None = Field(default=None, description="the agent")

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if self.team is None and self.agent is None:
            raise ValueError("name a `team`, an `agent` or both")
        return self


class AssignKind(StepKind[AssignParams]):
    name = "assign"
    params = AssignParams
    channels = CONVERSATION_CHANNELS
    summary = "Assign the conversation to a team (its strategy picks an agent) or an agent."

    def enter(self, params: AssignParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("assign", {"team": params.team, "agent": params.agent}))
        return Next()


KIND = AssignKind()
