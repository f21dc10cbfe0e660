"""``untag``: remove the tag from the conversation."""

from __future__ import annotations

from pydantic import Field

from workflows.instructions import ChangeConversation
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS, TagName


class UntagParams(StepParams):
    """``untag: billing`` or ``untag: {tag}``."""

    shorthand = "tag"
    tag: TagName = Field(description="the tag: 1 to 64 characters, no spaces or slashes")


class UntagKind(StepKind[UntagParams]):
    name = "untag"
    params = UntagParams
    channels = CONVERSATION_CHANNELS
    summary = "Remove the tag from the conversation, then continue."

    def enter(self, params: UntagParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("untag", {"tag": params.tag}))
        return Next()


KIND = UntagKind()
