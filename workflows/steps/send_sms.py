"""``send_sms``: text the caller (or a fixed number) during a call, then go on.

The text is a template (``{{call.from}}``, ``{{vars.choice}}``, ``{{contact.name}}``,
``{{schedule.next_open}}``, ``{{message.body}}``, with ``| fallback``; see
``workflows/templates.py``), checked when the workflow is loaded. On SMS it texts the contact
(or ``to``) as a message of its own; on chat it texts ``to`` from ``from`` (a chat conversation
has no number of ours). The channel queues it as a durable job in the same transaction as the
turn, so a repeated webhook queues nothing twice and no crash loses it; it goes out from
``from``, or else the number the caller called (or the contact texted).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Self

from pydantic import Field, model_validator

from workflows.instructions import SendText
from workflows.names import E164
from workflows.steps.base import (
    CHAT,
    SMS,
    VOICE,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
)
from workflows.templates import Template, TemplateError

TEMPLATE_ROOTS = ("call", "vars", "contact", "schedule", "message", "event")


@lru_cache(maxsize=1024)
def _template(text: str) -> Template:
    return Template.parse(text, roots=TEMPLATE_ROOTS)


class SendSmsParams(StepParams):
    """``send_sms: "text"`` or ``send_sms: {body, to}``."""

    shorthand = "body"
    body: str = Field(min_length=1, max_length=1600, description="the text, a template")
    to: E164 | None = Field(default=None, description="the number to text; default: the caller")
    sender: E164 | None = Field(
        default=None,
        alias="from",
        description=(
            "the number the text goes from; default: the number the contact called or"
            " texted (a chat conversation has none: set it there)"
        ),
    )

    @model_validator(mode="after")
    def _check_template(self) -> Self:
        try:
            _template(self.body)
        except TemplateError as error:
            raise ValueError(f"body: {error}") from None
        return self


class SendSmsKind(StepKind[SendSmsParams]):
    name = "send_sms"
    params = SendSmsParams
    channels = frozenset({VOICE, SMS, CHAT})
    summary = "Text the caller (or `to`) a templated message, then continue with `next`."

    def problem_on(self, channel: str, params: SendSmsParams) -> str | None:
        if channel == CHAT and params.sender is None:
            return "on chat a text needs `from`: a chat has no number of yours to send it from"
        return None

    def enter(self, params: SendSmsParams, ctx: RunContext) -> StepResult:
        to = params.to or ctx.call.get("from", "")
        body = _template(params.body).render(ctx.values())
        ctx.emit(SendText(to=to, body=body, sender=params.sender))
        return Next()


KIND = SendSmsKind()
