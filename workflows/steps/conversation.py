"""What the conversation steps (``reply``, ``note``, ``assign``, ``set_priority``, ``tag``,
``untag``, ``snooze``, ``close``) share: the channels they run on, their templated texts and
the names they accept.

Like every step they touch no database: they emit a
:class:`~workflows.instructions.ChangeConversation` that the session service applies to the
run's conversation in the turn's transaction (:mod:`workflows.conversations.automation`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

from workflows.channels import CHAT, SMS
from workflows.steps.base import RunContext
from workflows.templates import Template, TemplateError

CONVERSATION_CHANNELS = frozenset({SMS, CHAT})
"""Conversation steps run where a conversation lives: texts and chat, not calls."""

TEMPLATE_ROOTS = ("call", "vars", "contact", "schedule", "message", "conversation", "event")

HANDLE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Handle = Annotated[str, StringConstraints(pattern=HANDLE)]
"""An agent's or a team's name."""

TagName = Annotated[str, StringConstraints(pattern=r"^[^\s\x00/]{1,64}$")]
"""A tag: 1 to 64 characters, no spaces or slashes."""


@lru_cache(maxsize=1024)
def template(text: str) -> Template:
    """The parsed template of ``text`` (cached)."""
    return Template.parse(text, roots=TEMPLATE_ROOTS)


def _valid_template(text: str) -> str:
    try:
        template(text)
    except TemplateError as error:
        raise ValueError(str(error)) from None
    return text


TemplateText = Annotated[
    str, StringConstraints(min_length=1, max_length=1600), AfterValidator(_valid_template)
]
"""A text with ``{{...}}`` placeholders, checked when the workflow is loaded."""


def render(text: str, ctx: RunContext) -> str:
    """``text`` with its placeholders filled from the run."""
    values: dict[str, Any] = ctx.values()
    return template(text).render(values)
