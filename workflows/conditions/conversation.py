"""``conversation``: tests on the state of the run's conversation (status, assignee, team,
priority, tags, answered or not).

Every key given must hold. The values come from the filter context's ``conversation``
(built by the session service for conversation events and runs); an event with no
conversation never matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, StringConstraints, model_validator

from workflows.conditions.base import (
    Check,
    FilterContext,
    FilterKind,
    FilterModel,
    Strict,
    _Compiler,
    _leaf,
    _many,
    _words,
)
from workflows.problems import Path

Status = Literal["open", "snoozed", "closed"]
Priority = Literal["urgent", "high", "normal", "low"]
Handle = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
TagName = Annotated[str, StringConstraints(pattern=r"^[^\s\x00/]{1,64}$")]

if TYPE_CHECKING:
    Statuses = tuple[str, ...]
    Priorities = tuple[str, ...]
    Handles = tuple[str, ...]
    Tags = tuple[str, ...]
else:
    Statuses = _many(Status)
    Priorities = _many(Priority)
    Handles = _many(Handle)
    Tags = _many(TagName)


class ConversationTest(Strict):
    """What the conversation must be; at least one key, every key given must hold."""

    status: Statuses | None = Field(default=None, description="open, snoozed or closed")
    priority: Priorities | None = Field(default=None, description="urgent, high, normal, low")
    assignee: Handles | None = Field(
        default=None, description="assigned to one of these agents (`none`: to no agent)"
    )
    team: Handles | None = Field(
        default=None, description="assigned to one of these teams (`none`: to no team)"
    )
    tags: Tags | None = Field(default=None, description="has every one of these tags")
    answered: StrictBool | None = Field(
        default=None, description="the contact's latest message has had an agent's reply"
    )

    @model_validator(mode="after")
    def _something(self) -> ConversationTest:
        if not self.model_fields_set:
            raise ValueError("needs a test: status, priority, assignee, team, tags or answered")
        return self


class ConversationFilter(FilterModel):
    kind_name: ClassVar[str] = "conversation"
    conversation: ConversationTest


def _person(value: Any) -> str:
    return value if isinstance(value, str) else "none"


def _failures(test: ConversationTest, state: Mapping[str, Any]) -> list[str]:
    """What does not hold, in words (empty: the test passes)."""
    found: list[str] = []
    if test.status is not None and state.get("status") not in test.status:
        found.append(f"status is {state.get('status')!r}, not {_words(test.status)}")
    if test.priority is not None and state.get("priority") not in test.priority:
        found.append(f"priority is {state.get('priority')!r}, not {_words(test.priority)}")
    if test.assignee is not None and _person(state.get("assignee")) not in test.assignee:
        found.append(f"assignee is {_person(state.get('assignee'))}, not {_words(test.assignee)}")
    if test.team is not None and _person(state.get("team")) not in test.team:
        found.append(f"team is {_person(state.get('team'))}, not {_words(test.team)}")
    if test.tags is not None:
        missing = [tag for tag in test.tags if tag not in (state.get("tags") or ())]
        if missing:
            found.append(f"lacks the tags {_words(missing, 'and')}")
    if test.answered is not None and bool(state.get("answered")) != test.answered:
        found.append("is answered" if state.get("answered") else "is not answered")
    return found


def _compile(spec: ConversationFilter, path: Path, compiler: _Compiler) -> Check:
    test = spec.conversation

    def check_conversation(ctx: FilterContext) -> bool:
        return ctx.conversation is not None and not _failures(test, ctx.conversation)

    return check_conversation


def _why_not(spec: ConversationFilter, ctx: FilterContext) -> str:
    if ctx.conversation is None:
        return "no conversation"
    return "conversation " + "; ".join(_failures(spec.conversation, ctx.conversation))


KIND = FilterKind(
    "conversation",
    ConversationFilter,
    _compile,
    _leaf(_compile, _why_not),
    "the state of the conversation: status, assignee, team, priority, tags, answered",
)
