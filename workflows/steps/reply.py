"""``reply``: a message to the contact in the conversation's own channel, authored by
automation (on the timeline like an agent's reply; sent as durable work, opt-out respected)."""

from __future__ import annotations

from pydantic import Field

from workflows.instructions import ChangeConversation
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS, TemplateText, render


class ReplyParams(StepParams):
    """``reply: "text"`` or ``reply: {body}``."""

    shorthand = "body"
    body: TemplateText = Field(description="the message, a template")


class ReplyKind(StepKind[ReplyParams]):
    name = "reply"
    params = ReplyParams
    channels = CONVERSATION_CHANNELS
    summary = "Send the contact a message in the conversation (a template), then continue."

    def enter(self, params: ReplyParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("reply", {"body": render(params.body, ctx)}))
        return Next()


KIND = ReplyKind()
