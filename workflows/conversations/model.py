"""A conversation as the core reads it, and who acts on one.

``unanswered``: the contact's latest message has had no reply from an agent since.
Resolution time is ``closed_at - created_at`` of a closed conversation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, bindparam, func, select

from ringflow.database import stored_time
from workflows.conversations.db import conversation_tags, conversations
from workflows.conversations.errors import UnknownConversation
from workflows.people.db import agents, teams

Status = Literal["open", "snoozed", "closed"]
Priority = Literal["urgent", "high", "normal", "low"]
ActorType = Literal["contact", "agent", "admin", "automation"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: an agent (``agent_id``), an admin (a token's name), the contact,
    or automation (a workflow, a timer)."""

    type: ActorType
    name: str | None = None
    agent_id: int | None = None


AUTOMATION = Actor("automation")
CONTACT = Actor("contact")


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else stored_time(moment)


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation as stored, with its tags."""

    id: int
    channel: str
    business_number: str
    contact_number: str
    latest: bool
    status: Status
    snoozed_until: datetime | None
    closed_at: datetime | None
    priority: Priority
    assignee_agent_id: int | None
    assignee_team_id: int | None
    created_at: datetime
    last_message_at: datetime
    first_response_at: datetime | None
    last_customer_message_at: datetime | None
    last_agent_message_at: datetime | None
    state_version: int
    tags: tuple[str, ...]
    waiting_run_id: str | None
    """The run waiting for the contact's reply (a question asked in the conversation)."""
    waiting_since: datetime | None

    @property
    def unanswered(self) -> bool:
        """The contact's latest message has had no agent reply since."""
        customer, agent = self.last_customer_message_at, self.last_agent_message_at
        return customer is not None and (agent is None or agent < customer)

    @property
    def first_response_seconds(self) -> float | None:
        """How long the first agent reply took, from the conversation's start."""
        if self.first_response_at is None:
            return None
        return (self.first_response_at - self.created_at).total_seconds()

    @property
    def resolution_seconds(self) -> float | None:
        """How long it took to close, for a closed conversation."""
        if self.status != "closed" or self.closed_at is None:
            return None
        return (self.closed_at - self.created_at).total_seconds()


def conversation_of(row: Row[Any], tags: tuple[str, ...]) -> Conversation:
    """A :class:`Conversation` from a row of the ``conversations`` table."""
    return Conversation(
        id=row.id,
        channel=row.channel,
        business_number=row.business_number,
        contact_number=row.contact_number,
        latest=bool(row.latest),
        status=row.status,
        snoozed_until=_aware(row.snoozed_until),
        closed_at=_aware(row.closed_at),
        priority=row.priority,
        assignee_agent_id=row.assignee_agent_id,
        assignee_team_id=row.assignee_team_id,
        created_at=stored_time(row.created_at),
        last_message_at=stored_time(row.last_message_at),
        first_response_at=_aware(row.first_response_at),
        last_customer_message_at=_aware(row.last_customer_message_at),
        last_agent_message_at=_aware(row.last_agent_message_at),
        state_version=row.state_version,
        tags=tags,
        waiting_run_id=row.waiting_run_id,
        waiting_since=_aware(row.waiting_since),
    )


@dataclass(frozen=True, slots=True)
class NamedConversation:
    """A conversation with the names of its assignees, read with it in one statement (what
    a filter and ``{{conversation.*}}`` read)."""

    conversation: Conversation
    agent: str | None
    team: str | None


def tags_of(conn: Connection, ids: list[int]) -> dict[int, tuple[str, ...]]:
    """The tags of each conversation in ``ids``, sorted."""
    found: dict[int, list[str]] = {}
    if ids:
        rows = conn.execute(
            select(conversation_tags.c.conversation_id, conversation_tags.c.tag)
            .where(conversation_tags.c.conversation_id.in_(ids))
            .order_by(conversation_tags.c.tag)
        ).all()
        for conversation_id, tag in rows:
            found.setdefault(conversation_id, []).append(tag)
    return {key: tuple(value) for key, value in found.items()}


def _load_statement(dialect: str, lock: bool, named: bool) -> Any:
    """One conversation by id with its tags as a JSON array (a correlated subquery: one
    round trip instead of two), and when ``named`` its assignees' names (two more);
    locked for update on PostgreSQL when ``lock``."""
    aggregate = func.json_agg if dialect == "postgresql" else func.json_group_array
    tags = (
        select(aggregate(conversation_tags.c.tag))
        .where(conversation_tags.c.conversation_id == conversations.c.id)
        .scalar_subquery()
        .label("tag_list")
    )
    columns: list[Any] = [conversations, tags]
    if named:
        agent = select(agents.c.name).where(agents.c.id == conversations.c.assignee_agent_id)
        team = select(teams.c.name).where(teams.c.id == conversations.c.assignee_team_id)
        columns += [
            agent.scalar_subquery().label("agent_name"),
            team.scalar_subquery().label("team_name"),
        ]
    query = select(*columns).where(conversations.c.id == bindparam("conversation_id"))
    if lock and dialect == "postgresql":
        query = query.with_for_update(of=conversations)
    return query


_LOADS = {
    (dialect, lock, named): _load_statement(dialect, lock, named)
    for dialect in ("postgresql", "sqlite")
    for lock in (False, True)
    for named in (False, True)
}


def _tag_list(value: Any) -> tuple[str, ...]:
    """The tags of the aggregate: a JSON text (SQLite, asyncpg) or a list; NULL when none."""
    if value is None:
        return ()
    tags = json.loads(value) if isinstance(value, str | bytes) else value
    return tuple(sorted(str(tag) for tag in tags))


def _load_row(conn: Connection, conversation_id: int, lock: bool, named: bool) -> Row[Any]:
    statement = _LOADS[conn.dialect.name, lock, named]
    row = conn.execute(statement, {"conversation_id": conversation_id}).first()
    if row is None:
        raise UnknownConversation(str(conversation_id))
    return row


def load(conn: Connection, conversation_id: int, *, lock: bool = False) -> Conversation:
    """The conversation ``conversation_id`` (locked for update on PostgreSQL when ``lock``);
    :class:`UnknownConversation` when there is none."""
    row = _load_row(conn, conversation_id, lock, named=False)
    return conversation_of(row, _tag_list(row.tag_list))


def load_named(conn: Connection, conversation_id: int, *, lock: bool = False) -> NamedConversation:
    """:func:`load` with the names of the conversation's agent and team, in one statement."""
    row = _load_row(conn, conversation_id, lock, named=True)
    conversation = conversation_of(row, _tag_list(row.tag_list))
    return NamedConversation(conversation, row.agent_name, row.team_name)


def thread_end(conn: Connection, conversation: Conversation) -> datetime | None:
    """When the next conversation of the same thread started (None: this is the latest)."""
    if conversation.latest:
        return None
    later = conn.execute(
        select(conversations.c.created_at)
        .where(
            conversations.c.channel == conversation.channel,
            conversations.c.business_number == conversation.business_number,
            conversations.c.contact_number == conversation.contact_number,
            conversations.c.id > conversation.id,
        )
        .order_by(conversations.c.id)
        .limit(1)
    ).scalar()
    return None if later is None else stored_time(later)


def thread_start(conn: Connection, conversation: Conversation) -> datetime | None:
    """When this conversation's part of the thread starts: None for the thread's first one
    (its history includes what came before it, e.g. the missed call that started it), else its
    own start."""
    earlier = conn.execute(
        select(conversations.c.id)
        .where(
            conversations.c.channel == conversation.channel,
            conversations.c.business_number == conversation.business_number,
            conversations.c.contact_number == conversation.contact_number,
            conversations.c.id < conversation.id,
        )
        .limit(1)
    ).scalar()
    return None if earlier is None else conversation.created_at
