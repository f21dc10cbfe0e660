"""``note``: an internal note on the conversation's timeline (never sent to the contact)."""

from __future__ import annotations

from pydantic import Field

from workflows.instructions import ChangeConversation
from workflows.steps.base import Next, RunContext, StepKind, StepParams, StepResult
from workflows.steps.conversation import CONVERSATION_CHANNELS, TemplateText, render


class NoteParams(StepParams):
    """``note: "text"`` or ``note: {body}``."""

    shorthand = "body"
    body: TemplateText = Field(description="the note, a template")


class NoteKind(StepKind[NoteParams]):
    name = "note"
    params = NoteParams
    channels = CONVERSATION_CHANNELS
    summary = "Add an internal note (a template) to the conversation, then continue."

    def enter(self, params: NoteParams, ctx: RunContext) -> StepResult:
        ctx.emit(ChangeConversation("note", {"body": render(params.body, ctx)}))
        return Next()


KIND = NoteKind()
