"""What ``ask`` and ``survey`` share: a question texted to the contact, answered by the
contact's next message or given up on when its timeout comes.

The question is a ``Gather`` (a text channel sends it, numbered options and all, and points
the conversation at the run); the timeout is a ``WaitUntil`` in the same turn, which the
channel keeps as a durable timer keyed on the run's turn. Whichever comes first moves the run
to its next turn, so the other finds the run no longer at that turn and does nothing: an
answer that came first wins over the timer, and a late answer after the timeout starts
afresh like any other text.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from workflows.instructions import Gather, Say, WaitUntil
from workflows.names import Duration
from workflows.steps.base import RunContext, Wait
from workflows.steps.send_sms import TEMPLATE_ROOTS
from workflows.templates import Template, TemplateError

DEFAULT_TIMEOUT = 24 * 3600
"""A day: how long a question waits for its answer unless the step says otherwise."""
MAX_TIMEOUT = 24 * 3600
"""The longest a question may wait: a text conversation waits a day for a reply at most
(``sms.conversations.SESSION``), after which the contact's text starts afresh."""


def _within_bounds(seconds: int) -> int:
    if seconds < 1:
        raise ValueError("a question's timeout must be at least 1 second")
    if seconds > MAX_TIMEOUT:
        raise ValueError("a question's timeout must be at most 1d (a conversation waits a day)")
    return seconds


Timeout = Annotated[Duration, AfterValidator(_within_bounds)]


@lru_cache(maxsize=1024)
def template(text: str) -> Template:
    """``text`` parsed as a template of a text step (``{{contact.name}}``, ``{{vars.x}}``...)."""
    return Template.parse(text, roots=TEMPLATE_ROOTS)


def _valid_template(text: str) -> str:
    try:
        template(text)
    except TemplateError as error:
        raise ValueError(str(error)) from None
    return text


Question = Annotated[
    str, StringConstraints(min_length=1, max_length=1600), AfterValidator(_valid_template)
]
"""A question's text: a template, checked when the workflow is loaded."""


def worded(ctx: RunContext, text: str) -> str:
    """The question ``text`` with its placeholders filled from the run."""
    return template(text).render(ctx.values())


def ask(
    ctx: RunContext,
    lines: tuple[str, ...],
    timeout: int,
    choices: tuple[tuple[str, str], ...] = (),
) -> Wait:
    """Send ``lines`` (and ``choices`` as numbered options) and wait for the contact's answer
    for ``timeout`` seconds at most."""
    ctx.emit(
        Gather(
            prompts=tuple(Say(line, language=ctx.language) for line in lines),
            timeout=5,  # seconds of silence on a call; a text channel waits for `timeout`
            choices=choices,
            language=ctx.language,
        )
    )
    ctx.emit(WaitUntil(ctx.clock() + timedelta(seconds=timeout)))
    return Wait()
