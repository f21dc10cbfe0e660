"""``close``: close (resolve) the conversation; nothing when it is closed already."""

from __future__ import annotations

from workflows.instructions import ChangeConversation
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS


class CloseParams(StepParams):
    """``close: {}`` (no parameters)."""


class CloseKind(StepKind[CloseParams]):
    name = "close"
    params = CloseParams
    channels = CONVERSATION_CHANNELS
    summary = "Close the conversation (nothing if it is closed already), then continue."

    def enter(self, params: CloseParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("close"))
        return Next()


KIND = CloseKind()
