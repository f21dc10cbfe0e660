"""``tag``: add the tag to the conversation."""

from __future__ import annotations

from pydantic import Field

from workflows.instructions import ChangeConversation
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS, TagName


class TagParams(StepParams):
    """``tag: billing`` or ``tag: {tag}``."""

    shorthand = "tag"
    tag: TagName = Field(description="the tag: 1 to 64 characters, no spaces or slashes")


class TagKind(StepKind[TagParams]):
    name = "tag"
    params = TagParams
    channels = CONVERSATION_CHANNELS
    summary = "Add the tag to the conversation, then continue."

    def enter(self, params: TagParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("tag", {"tag": params.tag}))
        return Next()


KIND = TagKind()
