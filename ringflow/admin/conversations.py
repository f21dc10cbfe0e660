"""Admin API for conversations: the inbox (filters, cursor), one conversation with its
timeline, and what agents do: reply, note, assign, priority, tags, snooze, close, reopen.

Agent tokens may call every endpoint here; they may assign a conversation to themselves
only. Every change is an event of the timeline naming who made it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection, select

from ringflow.admin.context import (
    Name,
    Text,
    actor_of,
    admin_of,
    caller,
    path_id,
    unprocessable,
)
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body, query_params
from ringflow.admin.problems import ApiProblem, conflict, not_found
from workflows.conversations import actions
from workflows.conversations.errors import (
    ChangeRefused,
    ChannelUnavailable,
    UnknownConversation,
)
from workflows.conversations.inbox import BadCursor, InboxFilter, list_conversations
from workflows.conversations.model import Actor, Conversation, Priority, Status, load
from workflows.conversations.timeline import Entry, timeline
from workflows.people.agents import agent_by_id, find_agent
from workflows.people.db import agents, teams
from workflows.people.teams import find_team

Tag = Annotated[str, StringConstraints(pattern=r"^[^\s\x00/]{1,64}$")]
"""A tag: 1 to 64 characters, no spaces or slashes."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssigneeOut(Strict):
    agent: str | None = Field(description="the agent's name")
    team: str | None = Field(description="the team's name")


class ConversationOut(Strict):
    id: int
    channel: str = Field(description="sms or chat")
    business_number: str = Field(description="our number")
    contact_number: str = Field(description="the contact's number, E.164")
    latest: bool = Field(description="the latest conversation of its thread")
    status: Status
    snoozed_until: datetime | None
    closed_at: datetime | None
    priority: Priority
    assignee: AssigneeOut
    tags: list[str]
    unanswered: bool = Field(description="the contact's latest message has no agent reply since")
    created_at: datetime
    last_message_at: datetime
    last_customer_message_at: datetime | None
    last_agent_message_at: datetime | None
    first_response_at: datetime | None
    first_response_seconds: float | None
    resolution_seconds: float | None = Field(description="from start to close, once closed")
    state_version: int = Field(description="changes of status or assignee so far")


class ConversationPage(Strict):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: last")


class ActorOut(Strict):
    type: Literal["contact", "agent", "admin", "automation"]
    name: str | None = Field(description="the agent's name, or the admin token's")


class EntryOut(Strict):
    id: str = Field(description="e<n> an event, m<n> a message, c<sid> a call")
    at: datetime
    kind: str = Field(
        description="opened, reopened, message.received, agent.replied, note, assigned, priority,"
        " tagged, untagged, snoozed, woke, closed, survey (data: rating, outcome); message (an"
        " automated text); call"
    )
    actor: ActorOut
    data: dict[str, Any]
    body: str | None
    message: dict[str, Any] | None = Field(
        description="the channel's message: direction, body, status (delivery), error"
    )


class ConversationDetail(ConversationOut):
    timeline: list[EntryOut]


class ListQuery(Strict):
    status: Status | None = None
    assignee: str | None = Field(
        default=None,
        max_length=64,
        description="an agent's name, `me` (the token's agent) or `none` (no agent)",
    )
    team: Name | None = None
    priority: Priority | None = None
    tag: Tag | None = None
    unanswered: bool | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class BodyIn(Strict):
    body: Annotated[Text, Field(min_length=1, max_length=1600)]


ClientKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[!-~]+$")]


class ReplyIn(BodyIn):
    idempotency_key: ClientKey | None = Field(
        default=None,
        description=(
            "a key of your choosing (printable ASCII, no spaces, up to 100 characters), unique"
            " per reply: a request retried with the same key and text answers the first"
            " reply (200) and sends nothing again; the same key with another text is a 409"
        ),
    )


class NoteIn(Strict):
    body: Annotated[Text, Field(min_length=1, max_length=10_000)]


class AssignIn(Strict):
    """Who gets it: an agent, a team (its strategy picks an agent when none is given), both;
    a field left out keeps its value, null clears it."""

    agent: Name | None = None
    team: Name | None = None


class PriorityIn(Strict):
    priority: Priority


class TagIn(Strict):
    tag: Tag


class SnoozeIn(Strict):
    until: AwareDatetime = Field(description="when it opens again (with its time zone)")


Names = tuple[dict[int, str], dict[int, str]]
"""Agents' and teams' names by id."""


def _names(conn: Connection, found: list[Conversation]) -> Names:
    """The names of the agents and teams ``found`` is assigned to: two queries for a page."""
    agent_ids = {c.assignee_agent_id for c in found if c.assignee_agent_id is not None}
    team_ids = {c.assignee_team_id for c in found if c.assignee_team_id is not None}
    agent_names: dict[int, str] = {}
    team_names: dict[int, str] = {}
    if agent_ids:
        rows = conn.execute(select(agents.c.id, agents.c.name).where(agents.c.id.in_(agent_ids)))
        agent_names = {row.id: row.name for row in rows}
    if team_ids:
        rows = conn.execute(select(teams.c.id, teams.c.name).where(teams.c.id.in_(team_ids)))
        team_names = {row.id: row.name for row in rows}
    return agent_names, team_names


def _out(
    conn: Connection, conversation: Conversation, names: Names | None = None
) -> ConversationOut:
    c = conversation
    agent_names, team_names = names or _names(conn, [c])
    assignee = AssigneeOut(
        agent=None if c.assignee_agent_id is None else agent_names.get(c.assignee_agent_id),
        team=None if c.assignee_team_id is None else team_names.get(c.assignee_team_id),
    )
    return ConversationOut(
        id=c.id,
        channel=c.channel,
        business_number=c.business_number,
        contact_number=c.contact_number,
        latest=c.latest,
        status=c.status,
        snoozed_until=c.snoozed_until,
        closed_at=c.closed_at,
        priority=c.priority,
        assignee=assignee,
        tags=list(c.tags),
        unanswered=c.unanswered,
        created_at=c.created_at,
        last_message_at=c.last_message_at,
        last_customer_message_at=c.last_customer_message_at,
        last_agent_message_at=c.last_agent_message_at,
        first_response_at=c.first_response_at,
        first_response_seconds=c.first_response_seconds,
        resolution_seconds=c.resolution_seconds,
        state_version=c.state_version,
    )


def entry_out(entry: Entry) -> EntryOut:
    """A timeline entry as the API shows it."""
    return EntryOut(
        id=entry.id,
        at=entry.at,
        kind=entry.kind,
        actor=ActorOut(type=entry.actor.type, name=entry.actor.name),
        data=entry.data,
        body=entry.body,
        message=entry.message,
    )


# --- handlers: reading -----------------------------------------------------------------


async def list_inbox(request: web.Request) -> web.Response:
    admin = admin_of(request)
    options = query_params(request, ListQuery)
    me = caller(request).agent_id

    def read(conn: Connection) -> ConversationPage:
        agent_id: int | None = None
        if options.assignee == "me":
            if me is None:
                raise unprocessable("query.assignee", "`me` needs an agent's token")
            agent_id = me
        elif options.assignee == "none":
            agent_id = 0
        elif options.assignee is not None:
            agent = find_agent(conn, options.assignee)
            if agent is None:
                raise unprocessable("query.assignee", f"no agent named {options.assignee!r}")
            agent_id = agent.id
        team_id: int | None = None
        if options.team is not None:
            team = find_team(conn, options.team)
            if team is None:
                raise unprocessable("query.team", f"no team named {options.team!r}")
            team_id = team.id
        chosen = InboxFilter(
            status=options.status,
            assignee_agent_id=agent_id,
            team_id=team_id,
            priority=options.priority,
            tag=options.tag,
            unanswered=options.unanswered,
        )
        try:
            found, following = list_conversations(
                conn, chosen, limit=options.limit, cursor=options.cursor
            )
        except BadCursor as error:
            raise unprocessable("query.cursor", str(error)) from None
        names = _names(conn, found)
        return ConversationPage(items=[_out(conn, c, names) for c in found], next_cursor=following)

    return json_answer(await admin.db.read(read))


async def get_conversation(request: web.Request) -> web.Response:
    admin = admin_of(request)
    conversation_id = path_id(request, "conversation_id", "conversation")

    def read(conn: Connection) -> ConversationDetail:
        conversation = load(conn, conversation_id)
        entries = timeline(conn, conversation, admin.channels)
        summary = _out(conn, conversation)
        return ConversationDetail(**summary.model_dump(), timeline=[entry_out(e) for e in entries])

    try:
        return json_answer(await admin.db.read(read))
    except UnknownConversation:
        raise not_found(f"conversation {conversation_id}") from None


# --- handlers: acting ------------------------------------------------------------------


Change = Callable[[Connection, int, Actor, datetime], Conversation | int]
"""An action on a conversation: the conversation as it now is, or the id of the event it
recorded (a reply, a note)."""


async def _act(request: web.Request, change: Change, status: int = 200) -> web.Response:
    """Run ``change(conn, conversation_id, actor, now)`` in a write; answer with what it
    returns (a conversation, or an event id: that timeline entry)."""
    admin = admin_of(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    actor = await actor_of(request)
    now = admin.clock()

    def write(conn: Connection) -> Any:
        result = change(conn, conversation_id, actor, now)
        if isinstance(result, int):
            conversation = load(conn, conversation_id)
            entries = timeline(conn, conversation, admin.channels)
            return next(entry_out(e) for e in entries if e.id == f"e{result}")
        return _out(conn, result)

    try:
        answer = await admin.db.write(write)
    except UnknownConversation:
        raise not_found(f"conversation {conversation_id}") from None
    except (ChangeRefused, ChannelUnavailable) as error:
        raise conflict(str(error)) from None
    return json_answer(answer, status=status)


async def post_reply(request: web.Request) -> web.Response:
    body = await json_body(request, ReplyIn)
    channels = admin_of(request).channels
    key = body.idempotency_key
    repeated = False

    def change(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> int:
        nonlocal repeated
        repeated = False
        if key is not None:
            # The conversation's lock makes two requests with one key take turns: the second
            # finds the first's reply.
            load(conn, conversation_id, lock=True)
            earlier = actions.earlier_reply(conn, conversation_id, key, body.body)
            if earlier is not None:
                repeated = True
                return earlier
        _conversation, event_id, _sent = actions.reply(
            conn, conversation_id, body.body, actor, channels, now, client_key=key
        )
        return event_id

    answer = await _act(request, change, status=201)
    if repeated:
        answer.set_status(200)
    return answer


async def post_note(request: web.Request) -> web.Response:
    body = await json_body(request, NoteIn)

    def change(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> int:
        return actions.note(conn, conversation_id, body.body, actor, now)

    return await _act(request, change, status=201)


async def post_typing(request: web.Request) -> web.Response:
    """The caller is typing a reply: the contact sees "<name> is typing…" where the channel
    shows it (the web chat), for a few seconds. Nothing is stored."""
    admin = admin_of(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    agent_id = caller(request).agent_id

    def read(conn: Connection) -> tuple[Conversation, str | None]:
        conversation = load(conn, conversation_id)
        agent = agent_by_id(conn, agent_id) if agent_id is not None else None
        return conversation, agent.fields.display_name if agent is not None else None

    try:
        conversation, name = await admin.db.read(read)
    except UnknownConversation:
        raise not_found(f"conversation {conversation_id}") from None
    if admin.typing is not None:
        await admin.typing(conversation, name)
    return web.Response(status=204)


async def post_assign(request: web.Request) -> web.Response:
    body = await json_body(request, AssignIn)
    given = body.model_fields_set
    if not given:
        raise unprocessable("body", "give agent, team or both (null clears one)")
    me = caller(request).agent_id

    def change(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> Any:
        current = load(conn, conversation_id)
        agent_id, team_id = current.assignee_agent_id, current.assignee_team_id
        if "agent" in given:
            agent_id = None
            if body.agent is not None:
                agent = find_agent(conn, body.agent)
                if agent is None:
                    raise unprocessable("body.agent", f"no agent named {body.agent!r}")
                agent_id = agent.id
        if "team" in given:
            team_id = None
            if body.team is not None:
                team = find_team(conn, body.team)
                if team is None:
                    raise unprocessable("body.team", f"no team named {body.team!r}")
                team_id = team.id
            if "agent" not in given:
                agent_id = None  # a new team picks its own agent
        if me is not None and (given != {"agent"} or agent_id != me):
            raise ApiProblem(403, "an agent token may only assign a conversation to its agent")
        return actions.assign(
            conn, conversation_id, agent_id=agent_id, team_id=team_id, actor=actor, now=now
        )

    return await _act(request, change)


async def post_priority(request: web.Request) -> web.Response:
    body = await json_body(request, PriorityIn)

    def change(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> Any:
        return actions.set_priority(conn, conversation_id, body.priority, actor, now)

    return await _act(request, change)


async def post_tag(request: web.Request) -> web.Response:
    body = await json_body(request, TagIn)

    def change(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> Any:
        return actions.tag(conn, conversation_id, body.tag, actor, now)

    return await _act(request, change)


async def delete_tag(request: web.Request) -> web.Response:
    name = request.match_info["tag"]

    def change(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> Any:
        return actions.untag(conn, conversation_id, name, actor, now)

    return await _act(request, change)


async def post_snooze(request: web.Request) -> web.Response:
    body = await json_body(request, SnoozeIn)
    if body.until <= admin_of(request).clock():
        raise unprocessable("body.until", "must be in the future")

    def change(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> Any:
        return actions.snooze(conn, conversation_id, body.until, actor, now)

    return await _act(request, change)


async def post_close(request: web.Request) -> web.Response:
    return await _act(request, actions.close)


async def post_reopen(request: web.Request) -> web.Response:
    return await _act(request, actions.reopen)


def endpoints() -> list[Endpoint]:
    """The conversation endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "conversations"
    one = "/conversations/{conversation_id}"

    def action(path: str, handler: Any, summary: str, model: type[BaseModel] | None) -> Endpoint:
        return Endpoint(
            "POST",
            one + path,
            handler,
            summary,
            tag,
            body=Body(model=model) if model is not None else None,
            answer=ConversationOut,
            errors=(400, 404, 409, 422) if model is not None else (404, 409),
            agents=True,
        )

    return [
        Endpoint(
            "GET",
            "/conversations",
            list_inbox,
            "List conversations, latest activity first, with filters and a cursor",
            tag,
            answer=ConversationPage,
            query=ListQuery,
            errors=(422,),
            agents=True,
        ),
        Endpoint(
            "GET",
            one,
            get_conversation,
            "A conversation with its timeline (events, messages, calls), oldest first",
            tag,
            answer=ConversationDetail,
            errors=(404,),
            agents=True,
        ),
        Endpoint(
            "POST",
            one + "/replies",
            post_reply,
            "Reply to the contact through the conversation's channel (a durable send job)",
            tag,
            body=Body(model=ReplyIn),
            answer=EntryOut,
            status=201,
            also=(200,),
            errors=(400, 404, 409, 422),
            agents=True,
            description=(
                "Answers the reply's timeline entry (201): its message's status follows"
                " delivery; a contact who opted out (STOP) gets nothing, and the message ends"
                " `failed` with the error `recipient opted out`. With an `idempotency_key`"
                " already used for this text in this conversation, answers the first reply's"
                " entry (200) and sends nothing; with another text, 409."
            ),
        ),
        Endpoint(
            "POST",
            one + "/notes",
            post_note,
            "Add an internal note (never sent to the contact)",
            tag,
            body=Body(model=NoteIn),
            answer=EntryOut,
            status=201,
            errors=(400, 404, 422),
            agents=True,
        ),
        Endpoint(
            "POST",
            one + "/typing",
            post_typing,
            "Show the contact that you are typing a reply (web chat; nothing is stored)",
            tag,
            status=204,
            errors=(404,),
            agents=True,
            description=(
                "On a chat conversation the visitor's widget shows \"<your display name> is"
                ' typing…" ("Someone" without one) for a few seconds, or until the next'
                " message; on other channels nothing is shown. Call it at most every 2 s while"
                " typing a reply, never while writing a note. More than 3 signals in 2 s for one"
                " conversation are dropped. Answers 204."
            ),
        ),
        action("/assign", post_assign, "Assign to an agent and/or a team", AssignIn),
        action("/priority", post_priority, "Set the priority", PriorityIn),
        action("/tags", post_tag, "Add a tag", TagIn),
        Endpoint(
            "DELETE",
            one + "/tags/{tag}",
            delete_tag,
            "Remove a tag",
            tag,
            answer=ConversationOut,
            errors=(404,),
            agents=True,
        ),
        action("/snooze", post_snooze, "Snooze until a time (a text opens it sooner)", SnoozeIn),
        action("/close", post_close, "Close (resolve) the conversation", None),
        action("/reopen", post_reopen, "Open a snoozed or closed conversation again", None),
    ]


def register(api: Api) -> None:
    """Add the conversation endpoints to ``api``."""
    api.add(*endpoints())
