"""What the people and conversation endpoints share: their dependencies (one app key), who
is calling, and how path parts become ids or 404s."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, StringConstraints

from ringflow.admin.auth import CALLER
from ringflow.admin.problems import ApiProblem, FieldError, not_found
from ringflow.admin.tokens import TokenOwner
from ringflow.database import Database
from workflows.conversations.channels import ConversationChannels
from workflows.conversations.model import Actor, Conversation
from workflows.people.agents import NAME_PATTERN, agent_by_id, valid_name

MAX_ROW_ID = 2**63 - 1

TypingSignal = Callable[[Conversation, str | None], Awaitable[bool]]
"""Shows the contact that an agent (called by its display name, or None) is typing a reply in
a conversation, where its channel can (the web chat: :mod:`chat.typing`); whether it did."""


@dataclass(frozen=True)
class PeopleAdmin:
    """The agents, teams and conversations endpoints' dependencies: the database, the time,
    the channels conversations are on, the named schedules a team may work by, how long
    after closing a customer's message reopens a conversation, and what shows a contact that
    an agent is typing (None: nothing does)."""

    db: Database
    clock: Callable[[], datetime]
    channels: ConversationChannels
    schedule_names: Callable[[], Collection[str]]
    reopen_window: timedelta
    typing: TypingSignal | None = None


PEOPLE_ADMIN = web.AppKey("people_admin", PeopleAdmin)


def admin_of(request: web.Request) -> PeopleAdmin:
    return request.config_dict[PEOPLE_ADMIN]


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""An agent's or a team's name (a handle)."""
Text = Annotated[str, AfterValidator(_clean)]
"""Text the database can store (UTF-8, no NUL)."""


def caller(request: web.Request) -> TokenOwner:
    """Who is calling (set by the token check)."""
    return request[CALLER]


async def actor_of(request: web.Request) -> Actor:
    """The caller as the actor of timeline events: the agent (with its name), or the admin
    token's name."""
    who = caller(request)
    if who.agent_id is None:
        return Actor("admin", who.name[:64])
    agent_id = who.agent_id
    agent = await admin_of(request).db.read(lambda conn: agent_by_id(conn, agent_id))
    if agent is None:  # deleted after its token was last checked
        raise ApiProblem(403, "this token's agent no longer exists")
    return Actor("agent", agent.name, agent.id)


def path_id(request: web.Request, name: str, what: str) -> int:
    """The numeric id in the path, or a 404 (no such row can exist)."""
    raw = request.match_info[name]
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ROW_ID:
        return int(raw)
    raise not_found(f"{what} {raw[:40]!r}")


def path_name(request: web.Request, name: str, what: str) -> str:
    """An agent's or team's name from the path; a 404 when it cannot be one."""
    raw = request.match_info[name]
    if not valid_name(raw):
        raise not_found(f"{what} {raw[:40]!r}")
    return raw


def unprocessable(where: str, message: str) -> ApiProblem:
    """A 422 naming ``where`` (``body.agent``)."""
    return ApiProblem(422, f"{where}: {message}", [FieldError(where, message)])
