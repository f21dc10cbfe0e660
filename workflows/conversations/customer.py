"""What the contact sends, recorded on the thread's latest conversation.

A message from the contact opens a snoozed conversation again, and a closed one closed less
than ``reopen_window`` ago, unless a workflow waits for the contact's answer in it (a survey
sent at close: the answer goes to the survey and the conversation stays closed); one closed
longer ago stays as it was and the message starts a new conversation of the same thread (the
old one is no longer ``latest``). The first message of a thread opens its first conversation.

Called by a channel adapter in the transaction that records the message, so the message and
its place in a conversation commit together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from workflows.conversations.db import conversations
from workflows.conversations.events import record
from workflows.conversations.model import CONTACT, Conversation, load


def _insert(conn: Connection, values: dict[str, object]) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(conversations)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=["channel", "business_number", "contact_number"],
            index_where=text("latest"),
        )
    )
    return bool(conn.execute(statement).rowcount)


def _latest_id(conn: Connection, channel: str, business: str, contact: str) -> int | None:
    query = select(conversations.c.id).where(
        conversations.c.channel == channel,
        conversations.c.business_number == business,
        conversations.c.contact_number == contact,
        conversations.c.latest,
    )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def latest_of_thread(conn: Connection, *, channel: str, business: str, contact: str) -> int | None:
    """The id of the latest conversation of the thread (``channel``, ``business``,
    ``contact``), or None when the thread has none yet."""
    return _latest_id(conn, channel, business, contact)


def _new_values(channel: str, business: str, contact: str, now: datetime) -> dict[str, object]:
    return {
        "channel": channel,
        "business_number": business,
        "contact_number": contact,
        "created_at": now,
        "last_message_at": now,
        "latest": True,
    }


def customer_message(
    conn: Connection,
    *,
    channel: str,
    business: str,
    contact: str,
    message_id: int | None,
    body: str,
    now: datetime,
    reopen_window: timedelta,
) -> Conversation:
    """Record that ``contact`` sent ``body`` (the channel's message ``message_id``) to
    ``business`` on ``channel`` at ``now``; the conversation it belongs to."""
    created = _insert(conn, _new_values(channel, business, contact, now))
    conversation_id = _latest_id(conn, channel, business, contact)
    assert conversation_id is not None
    conversation = load(conn, conversation_id, lock=True)
    if created:
        record(conn, conversation.id, "opened", CONTACT, now)
    elif conversation.status == "closed" and (
        conversation.closed_at is None or now - conversation.closed_at > reopen_window
    ):
        conversation = _start_afresh(conn, conversation, now)
    elif conversation.status == "closed" and _awaits_answer(conn, conversation.id):
        pass  # an answer to the workflow that asked (a survey at close): it stays closed
    elif conversation.status != "open":
        conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation.id)
            .values(
                status="open",
                closed_at=None,
                snoozed_until=None,
                state_version=conversation.state_version + 1,
            )
        )
        record(conn, conversation.id, "reopened", CONTACT, now, data={"was": conversation.status})
    conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation.id)
        .values(last_message_at=now, last_customer_message_at=now)
    )
    record(
        conn, conversation.id, "message.received", CONTACT, now, body=body, message_id=message_id
    )
    return load(conn, conversation.id)


def _awaits_answer(conn: Connection, conversation_id: int) -> bool:
    """Whether a workflow run waits for the contact's reply in the conversation."""
    query = select(conversations.c.waiting_run_id).where(conversations.c.id == conversation_id)
    return conn.execute(query).scalar() is not None


def _start_afresh(conn: Connection, old: Conversation, now: datetime) -> Conversation:
    """A new conversation of ``old``'s thread; a run waiting for the contact's reply on the
    old one keeps waiting on the new one."""
    waiting = conn.execute(
        select(conversations.c.waiting_run_id, conversations.c.waiting_since).where(
            conversations.c.id == old.id
        )
    ).one()
    conn.execute(update(conversations).where(conversations.c.id == old.id).values(latest=False))
    values = _new_values(old.channel, old.business_number, old.contact_number, now)
    values.update(waiting_run_id=waiting.waiting_run_id, waiting_since=waiting.waiting_since)
    conn.execute(conversations.insert().values(values))
    new_id = _latest_id(conn, old.channel, old.business_number, old.contact_number)
    assert new_id is not None
    record(conn, new_id, "opened", CONTACT, now, data={"previous": old.id})
    return load(conn, new_id)


def open_thread(
    conn: Connection, *, channel: str, business: str, contact: str, now: datetime
) -> tuple[Conversation, bool]:
    """The latest conversation of the thread (``channel``, ``business``, ``contact``), opened
    by the contact at ``now`` when the thread has none yet; and whether it was opened now.

    For channels where a conversation starts before the contact writes (web chat: the
    visitor opens the widget and is greeted)."""
    created = _insert(conn, _new_values(channel, business, contact, now))
    conversation_id = _latest_id(conn, channel, business, contact)
    assert conversation_id is not None
    if created:
        record(conn, conversation_id, "opened", CONTACT, now)
    return load(conn, conversation_id, lock=True), created
