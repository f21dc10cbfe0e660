"""A conversation's timeline: its own events merged with what the channels recorded (texts
with their delivery status, calls), in time order.

A message that an event is about (an agent's reply, a received text) is shown once, inside
that event (``message``); the other messages of the thread (automated texts) are entries of
their own, authored by ``automation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from workflows.conversations.channels import ConversationChannels, SourceEntry
from workflows.conversations.events import events_of
from workflows.conversations.model import (
    AUTOMATION,
    CONTACT,
    Actor,
    Conversation,
    thread_end,
    thread_start,
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a timeline: an event (``id`` ``e<n>``), a message (``m<n>``) or a call
    (``c<sid>``)."""

    id: str
    at: datetime
    kind: str
    actor: Actor
    data: dict[str, Any]
    body: str | None
    message: dict[str, Any] | None = None


def timeline(
    conn: Connection, conversation: Conversation, channels: ConversationChannels
) -> list[Entry]:
    """The conversation's timeline, oldest first."""
    since, until = thread_start(conn, conversation), thread_end(conn, conversation)
    records: list[SourceEntry] = []
    for source in channels.sources:
        records.extend(source.entries(conn, conversation, since, until))
    messages = {r.ref: r for r in records if r.kind == "message"}
    shown: set[str] = set()
    entries: list[Entry] = []
    for event in events_of(conn, conversation.id):
        message = None
        if event.message_id is not None:
            ref = str(event.message_id)
            record = messages.get(ref)
            if record is not None:
                message = {"id": event.message_id, **record.data}
                shown.add(ref)
        entries.append(
            Entry(
                f"e{event.id}",
                event.at,
                event.kind,
                event.actor,
                event.data,
                event.body,
                message,
            )
        )
    for record in records:
        if record.kind == "message" and record.ref in shown:
            continue
        data = dict(record.data)
        if record.kind == "message":
            actor = CONTACT if data.get("direction") == "inbound" else AUTOMATION
            message = {"id": int(record.ref), **data}
            entries.append(Entry(f"m{record.ref}", record.at, "message", actor, {}, None, message))
        else:
            entries.append(Entry(f"c{record.ref}", record.at, "call", CONTACT, data, None))
    entries.sort(key=lambda entry: entry.at)
    return entries
