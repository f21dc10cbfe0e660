"""The timeline's own events: every change to a conversation, who made it and when.

Kinds (:data:`EVENT_KINDS`): ``opened``, ``reopened``, ``message.received``,
``agent.replied``, ``note``, ``assigned``, ``priority``, ``tagged``, ``untagged``,
``snoozed``, ``woke`` (a snooze ended), ``closed``, ``survey`` (a survey's answer, or
that none came), each also published to webhook subscriptions as ``conversation.<kind>``
(:mod:`workflows.webhooks`). ``data`` holds what changed (new values);
``body`` a note's or a message's text; ``message_id`` the channel's message.

Recording an event announces the ``conversations`` change (:mod:`ringflow.changes`) in the
same transaction, so open inboxes on every process hear of it once it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, func, select, update

from ringflow.changes import CONVERSATIONS, announce
from ringflow.database import stored_time
from workflows.automations.raising import raise_event
from workflows.conversations.db import conversation_events
from workflows.conversations.model import Actor
from workflows.webhooks import publish

EVENT_KINDS: Final = (
    "opened",
    "reopened",
    "message.received",
    "agent.replied",
    "note",
    "assigned",
    "priority",
    "tagged",
    "untagged",
    "snoozed",
    "woke",
    "closed",
    "survey",
)


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event of a timeline."""

    id: int
    conversation_id: int
    at: datetime
    kind: str
    actor: Actor
    data: dict[str, Any]
    body: str | None
    message_id: int | None


def record(
    conn: Connection,
    conversation_id: int,
    kind: str,
    actor: Actor,
    now: datetime,
    *,
    data: dict[str, Any] | None = None,
    body: str | None = None,
    message_id: int | None = None,
    client_key: str | None = None,
) -> int:
    """Add an event to the conversation's timeline; its id. ``client_key``: the idempotency
    key a client sent with the request that made it (unique per conversation). An event that
    raises a trigger or starts a timer queues the job that follows it
    (:mod:`workflows.automations`)."""
    assert kind in EVENT_KINDS, kind
    event_id = int(
        conn.execute(
            conversation_events.insert()
            .values(
                conversation_id=conversation_id,
                at=now,
                kind=kind,
                actor_type=actor.type,
                actor_agent_id=actor.agent_id,
                actor_name=actor.name,
                data=data or {},
                body=body,
                message_id=message_id,
                client_key=client_key,
            )
            .returning(conversation_events.c.id)
        ).scalar_one()
    )
    raise_event(conn, event_id, kind, actor.type, now)
    announce(conn, CONVERSATIONS)  # the inboxes of every process re-read what changed
    publish(
        conn,
        f"conversation.{kind}",
        lambda: {
            "conversation_id": conversation_id,
            "event_id": event_id,
            "kind": kind,
            "actor": {"type": actor.type, "name": actor.name},
            "at": now.isoformat(),
            "data": data or {},
            "body": body,
        },
        now,
    )
    return event_id


ANSWERS_RUN: Final = "answers_run"
"""The ``data`` key of a ``message.received`` event whose message a waiting workflow run took
as its step's answer (the run's id): such a message starts no ``message.received`` workflow."""


def mark_answer(conn: Connection, conversation_id: int, message_id: int, run_id: str) -> None:
    """Mark the ``message.received`` event of the channel's message ``message_id`` in the
    conversation as the answer run ``run_id`` waited for (a menu's choice, an ``ask``'s
    answer, a survey's rating), in the transaction that recorded it: the run has it, so no
    other workflow takes it as a new message (an FAQ must not answer "Opening hours")."""
    conn.execute(
        update(conversation_events)
        .where(
            conversation_events.c.conversation_id == conversation_id,
            conversation_events.c.kind == "message.received",
            conversation_events.c.message_id == message_id,
        )
        .values(data={ANSWERS_RUN: run_id})
    )


def record_all(conn: Connection, events: list[tuple[int, str, datetime]]) -> list[int]:
    """Add automation's events ``(conversation id, kind, at)`` to their timelines in one
    statement; their ids, in order. Each queues the job that follows it, as :func:`record`."""
    if not events:
        return []
    rows: list[dict[str, Any]] = [
        {
            "conversation_id": conversation_id,
            "at": at,
            "kind": kind,
            "actor_type": "automation",
            "actor_agent_id": None,
            "actor_name": None,
            "data": {},
            "body": None,
            "message_id": None,
            "client_key": None,
        }
        for conversation_id, kind, at in events
    ]
    assert all(kind in EVENT_KINDS for _, kind, _ in events), events
    statement = conversation_events.insert().returning(
        conversation_events.c.id, sort_by_parameter_order=True
    )
    ids = [int(row.id) for row in conn.execute(statement, rows)]
    for event_id, (_, kind, at) in zip(ids, events, strict=True):
        raise_event(conn, event_id, kind, "automation", at)
    return ids


def event_of(row: Any) -> Event:
    """The event of a row of ``conversation_events`` (extra columns are ignored)."""
    return Event(
        id=row.id,
        conversation_id=row.conversation_id,
        at=stored_time(row.at),
        kind=row.kind,
        actor=Actor(row.actor_type, row.actor_name, row.actor_agent_id),
        data=dict(row.data or {}),
        body=row.body,
        message_id=row.message_id,
    )


def events_of(conn: Connection, conversation_id: int) -> list[Event]:
    """The conversation's events, oldest first."""
    rows = conn.execute(
        select(conversation_events)
        .where(conversation_events.c.conversation_id == conversation_id)
        .order_by(conversation_events.c.id)
    ).all()
    return [event_of(row) for row in rows]


def event_by_id(conn: Connection, event_id: int) -> Event | None:
    """The timeline event ``event_id``, or None."""
    row = conn.execute(select(conversation_events).where(conversation_events.c.id == event_id))
    found = row.first()
    return None if found is None else event_of(found)


def last_event_id(conn: Connection) -> int:
    """The id of the latest event of any timeline (0: none yet)."""
    return int(conn.execute(select(func.max(conversation_events.c.id))).scalar() or 0)


def events_after(conn: Connection, after: int, limit: int) -> list[tuple[int, int]]:
    """(event id, conversation id) of the events after the id ``after``, oldest first, at most
    ``limit`` (what changed since someone last looked)."""
    e = conversation_events.c
    rows = conn.execute(
        select(e.id, e.conversation_id).where(e.id > after).order_by(e.id).limit(limit)
    )
    return [(int(row.id), int(row.conversation_id)) for row in rows]
