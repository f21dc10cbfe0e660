"""Text conversations: one per (our number, contact), and the run waiting for its reply.

A run on the SMS channel that asks a question (an SMS menu) *waits* on its conversation; the
contact's next text resumes it, unless it waited longer than the session (then the text is
taken as a new conversation and the old run is closed as ``expired``). Plain functions of a
SQLAlchemy ``Connection``; numbers are E.164.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from ringflow.database import stored_time
from sms.db import conversations

SESSION: Final = timedelta(hours=24)
"""How long a question waits for its answer before the conversation starts afresh."""


_COLUMNS = (
    conversations.c.id,
    conversations.c.business_number,
    conversations.c.contact_number,
    conversations.c.waiting_run_id,
    conversations.c.waiting_since,
)


def _touching_upsert(dialect: Any) -> Any:
    insert = dialect.insert(conversations)
    # The thread's latest conversation (a partial unique index: older ones are closed history).
    return insert.on_conflict_do_update(
        index_elements=["channel", "business_number", "contact_number"],
        index_where=text("latest"),
        set_={"last_message_at": insert.excluded.last_message_at},
    ).returning(*_COLUMNS)


_TOUCH = {"sqlite": _touching_upsert(sqlite), "postgresql": _touching_upsert(postgresql)}


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation as stored."""

    id: int
    business_number: str
    contact_number: str
    waiting_run_id: str | None
    waiting_since: datetime | None

    def waiting(self, now: datetime, session: timedelta = SESSION) -> str | None:
        """The run waiting for the contact's reply, unless it has waited too long."""
        if self.waiting_run_id is None or self.waiting_since is None:
            return None
        return self.waiting_run_id if now - stored_time(self.waiting_since) <= session else None


def touch(conn: Connection, business: str, contact: str, now: datetime) -> Conversation:
    """The conversation of ``contact`` with ``business`` (created on first text), its last
    message time set to ``now``: one statement."""
    row = conn.execute(
        _TOUCH[conn.dialect.name],
        {
            "business_number": business,
            "contact_number": contact,
            "created_at": now,
            "last_message_at": now,
            "waiting_run_id": None,
            "waiting_since": None,
            "channel": "sms",
            "latest": True,
        },
    ).one()
    return Conversation(*row)


def find(conn: Connection, business: str, contact: str) -> Conversation | None:
    """The latest conversation of these two, or None when they never texted."""
    row = conn.execute(
        select(*_COLUMNS).where(
            conversations.c.business_number == business,
            conversations.c.contact_number == contact,
            conversations.c.latest,
        )
    ).first()
    return None if row is None else Conversation(*row)


def by_id(conn: Connection, conversation_id: int) -> Conversation | None:
    """The conversation ``conversation_id``, or None."""
    row = conn.execute(select(*_COLUMNS).where(conversations.c.id == conversation_id)).first()
    return None if row is None else Conversation(*row)


def set_waiting(conn: Connection, conversation_id: int, run_id: str, now: datetime) -> None:
    """``run_id`` now waits for the contact's reply (replacing any run that waited)."""
    conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(waiting_run_id=run_id, waiting_since=now)
    )


def stop_waiting(conn: Connection, conversation_id: int, run_id: str) -> None:
    """``run_id`` no longer waits for a reply (it ended, or waits for a timer instead)."""
    conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.waiting_run_id == run_id)
        .values(waiting_run_id=None, waiting_since=None)
    )
