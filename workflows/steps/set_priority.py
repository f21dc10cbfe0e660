"""``set_priority``: set the conversation's priority."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from workflows.instructions import ChangeConversation
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS


class SetPriorityParams(StepParams):
    """``set_priority: urgent`` or ``set_priority: {priority}``."""

    shorthand = "priority"
    priority: Literal["urgent", "high", "normal", "low"] = Field(description="the new priority")


class SetPriorityKind(StepKind[SetPriorityParams]):
    name = "set_priority"
    params = SetPriorityParams
    channels = CONVERSATION_CHANNELS
    summary = "Set the conversation's priority (urgent, high, normal, low), then continue."

    def enter(self, params: SetPriorityParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("set_priority", {"priority": params.priority}))
        return Next()


KIND = SetPriorityKind()
