"""What agents, admins and automation do to a conversation. Each function changes the
conversation and records the event in the caller's transaction, and returns the conversation
as it now is.

A change of status or assignee adds one to ``state_version``; a timer that must fire at most
once per state change carries the version it was set for and does nothing when it differs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from workflows.conversations.channels import ConversationChannels, Hold, Sent
from workflows.conversations.db import conversation_events, conversation_tags, conversations
from workflows.conversations.errors import ChangeRefused
from workflows.conversations.events import record, record_all
from workflows.conversations.model import Actor, Conversation, Priority, load
from workflows.jobs import enqueue
from workflows.people.assignment import pick_agent
from workflows.people.teams import team_by_id

WAKE_JOB: Final = "conversation.wake"
"""The job that ends a snooze: payload ``{"conversation_id", "state_version"}``."""


def _change(conn: Connection, conversation_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(values))


def _state_change(conversation: Conversation, values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "state_version": conversation.state_version + 1}


def earlier_reply(conn: Connection, conversation_id: int, client_key: str, body: str) -> int | None:
    """The reply already made in the conversation with the idempotency key ``client_key``
    (its event's id), or None. The same key with another text is refused: a client reusing a
    key for a different reply has a bug that must not be answered as if it had been sent."""
    row = conn.execute(
        select(conversation_events.c.id, conversation_events.c.body).where(
            conversation_events.c.conversation_id == conversation_id,
            conversation_events.c.client_key == client_key,
        )
    ).first()
    if row is None:
        return None
    if row.body != body:
        raise ChangeRefused(
            f"idempotency key {client_key!r} was already used for another reply in this"
            " conversation"
        )
    return int(row.id)


def reply(
    conn: Connection,
    conversation_id: int,
    body: str,
    actor: Actor,
    channels: ConversationChannels,
    now: datetime,
    *,
    client_key: str | None = None,
    hold: Hold | None = None,
) -> tuple[Conversation, int, Sent]:
    """Send ``body`` to the contact through the conversation's channel (a durable job
    queued with this event); the conversation, the event's id and what the channel said.
    ``client_key``: the client's idempotency key (see :func:`earlier_reply`, which a caller
    asks first, inside the same transaction); ``hold``: the quiet hours an automated message
    keeps."""
    conversation = load(conn, conversation_id, lock=True)
    outbound = channels.outbound_for(conversation.channel)
    event_id = record(
        conn, conversation.id, "agent.replied", actor, now, body=body, client_key=client_key
    )
    sent = outbound.send(
        conn, conversation, body, f"conversation:{conversation.id}:e{event_id}", now, hold=hold
    )
    data: dict[str, Any] = {"delivery": "refused", "reason": sent.refused} if sent.refused else {}
    conn.execute(
        update(conversation_events)
        .where(conversation_events.c.id == event_id)
        .values(message_id=sent.message_id, data=data)
    )
    values: dict[str, Any] = {"last_message_at": now}
    if actor.type in ("agent", "admin"):
        # An automated message (an acknowledgment, a notice) answers nobody: the conversation
        # stays unanswered and its response times wait for a person.
        values["last_agent_message_at"] = now
        if conversation.first_response_at is None:
            values["first_response_at"] = now
    _change(conn, conversation.id, values)
    return load(conn, conversation.id), event_id, sent


def note(conn: Connection, conversation_id: int, body: str, actor: Actor, now: datetime) -> int:
    """An internal note (never sent to the contact); the event's id."""
    conversation = load(conn, conversation_id)
    return record(conn, conversation.id, "note", actor, now, body=body)


def assign(
    conn: Connection,
    conversation_id: int,
    *,
    agent_id: int | None,
    team_id: int | None,
    actor: Actor,
    now: datetime,
) -> Conversation:
    """Give the conversation to an agent, a team, both, or no one. A team without an agent
    picks one with the team's strategy (none eligible: the team keeps it unassigned)."""
    conversation = load(conn, conversation_id, lock=True)
    picked_by: str | None = None
    if team_id is not None and agent_id is None:
        team = team_by_id(conn, team_id)
        if team is not None:
            agent_id = pick_agent(conn, team.id, team.fields.strategy, now)
            picked_by = team.fields.strategy if agent_id is not None else None
    if (agent_id, team_id) == (conversation.assignee_agent_id, conversation.assignee_team_id):
        return conversation
    _change(
        conn,
        conversation.id,
        _state_change(conversation, {"assignee_agent_id": agent_id, "assignee_team_id": team_id}),
    )
    data: dict[str, Any] = {"agent_id": agent_id, "team_id": team_id}
    if picked_by is not None:
        data["strategy"] = picked_by
    record(conn, conversation.id, "assigned", actor, now, data=data)
    return load(conn, conversation.id)


def set_priority(
    conn: Connection, conversation_id: int, priority: Priority, actor: Actor, now: datetime
) -> Conversation:
    """Set the priority (no event when it is already that)."""
    conversation = load(conn, conversation_id, lock=True)
    if conversation.priority != priority:
        _change(conn, conversation.id, {"priority": priority})
        data = {"priority": priority, "was": conversation.priority}
        record(conn, conversation.id, "priority", actor, now, data=data)
    return load(conn, conversation.id)


def _tag_insert(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(conversation_tags).on_conflict_do_nothing()


def tag(
    conn: Connection, conversation_id: int, name: str, actor: Actor, now: datetime
) -> Conversation:
    """Add the tag ``name`` (no event when it is there already)."""
    conversation = load(conn, conversation_id, lock=True)
    added = conn.execute(
        _tag_insert(conn).values(conversation_id=conversation.id, tag=name)
    ).rowcount
    if added:
        record(conn, conversation.id, "tagged", actor, now, data={"tag": name})
    return load(conn, conversation.id)


def untag(
    conn: Connection, conversation_id: int, name: str, actor: Actor, now: datetime
) -> Conversation:
    """Remove the tag ``name`` (no event when it was not there)."""
    conversation = load(conn, conversation_id, lock=True)
    removed = conn.execute(
        delete(conversation_tags).where(
            conversation_tags.c.conversation_id == conversation.id, conversation_tags.c.tag == name
        )
    ).rowcount
    if removed:
        record(conn, conversation.id, "untagged", actor, now, data={"tag": name})
    return load(conn, conversation.id)


def snooze(
    conn: Connection, conversation_id: int, until: datetime, actor: Actor, now: datetime
) -> Conversation:
    """Snooze until ``until`` (later than ``now``): a durable job opens it again then, unless
    its state changed meanwhile; a text from the contact opens it sooner."""
    if until <= now:
        raise ChangeRefused("a snooze must end in the future")
    conversation = load(conn, conversation_id, lock=True)
    if conversation.status == "closed":
        raise ChangeRefused("the conversation is closed; reopen it first")
    changed = _state_change(conversation, {"status": "snoozed", "snoozed_until": until})
    _change(conn, conversation.id, changed)
    record(conn, conversation.id, "snoozed", actor, now, data={"until": until.isoformat()})
    version = changed["state_version"]
    enqueue(
        conn,
        WAKE_JOB,
        {"conversation_id": conversation.id, "state_version": version},
        dedupe_key=f"conversation:{conversation.id}:wake:{version}",
        due_at=until,
        now=now,
    )
    return load(conn, conversation.id)


def wake_all(conn: Connection, snoozes: list[tuple[int, int, datetime]]) -> set[int]:
    """End each snooze ``(conversation id, state version it set, now)`` if nothing changed
    since (and the conversation still exists); the conversations it opened. The check and the
    change are one guarded ``UPDATE ... RETURNING`` for them all (status ``snoozed`` at that
    state version; on PostgreSQL the row locks it takes are the ones the check needs), then
    one insert of their ``woke`` events: two statements however many snoozes end."""
    if not snoozes:
        return set()
    woke = set(
        conn.execute(
            update(conversations)
            .where(
                tuple_(conversations.c.id, conversations.c.state_version).in_(
                    [(conversation_id, version) for conversation_id, version, _ in snoozes]
                ),
                conversations.c.status == "snoozed",
            )
            .values(
                status="open", snoozed_until=None, state_version=conversations.c.state_version + 1
            )
            .returning(conversations.c.id)
        ).scalars()
    )
    at = {conversation_id: now for conversation_id, _, now in snoozes if conversation_id in woke}
    record_all(conn, [(conversation_id, "woke", at[conversation_id]) for conversation_id in at])
    return woke


def wake(conn: Connection, conversation_id: int, state_version: int, now: datetime) -> bool:
    """End the snooze set at ``state_version``, if nothing changed since (and the
    conversation still exists); whether it did (see :func:`wake_all`)."""
    return conversation_id in wake_all(conn, [(conversation_id, state_version, now)])


def close(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> Conversation:
    """Close (resolve) the conversation; closing a closed one is refused."""
    conversation = load(conn, conversation_id, lock=True)
    if conversation.status == "closed":
        raise ChangeRefused("the conversation is closed already")
    values = {"status": "closed", "closed_at": now, "snoozed_until": None}
    _change(conn, conversation.id, _state_change(conversation, values))
    record(conn, conversation.id, "closed", actor, now)
    return load(conn, conversation.id)


def reopen(conn: Connection, conversation_id: int, actor: Actor, now: datetime) -> Conversation:
    """Open a snoozed or closed conversation again; reopening an open one is refused."""
    conversation = load(conn, conversation_id, lock=True)
    if conversation.status == "open":
        raise ChangeRefused("the conversation is open already")
    values = {"status": "open", "closed_at": None, "snoozed_until": None}
    _change(conn, conversation.id, _state_change(conversation, values))
    record(conn, conversation.id, "reopened", actor, now, data={"was": conversation.status})
    return load(conn, conversation.id)
