"""Listing conversations: filters and a cursor.

Newest activity first (``last_message_at``, then id, both descending). The cursor is the
last conversation of a page, as an opaque string; the next page starts after it, so
conversations that move while someone pages do not repeat a page's rows.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from ringflow.database import stored_time
from workflows.conversations.db import conversation_tags, conversations
from workflows.conversations.model import (
    Conversation,
    Priority,
    Status,
    conversation_of,
    tags_of,
)


class BadCursor(ValueError):
    """A cursor this server did not make."""


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """Which conversations: every field set must hold. ``assignee_agent_id`` 0 means
    "no agent"; ``unanswered``: the contact's latest message has no agent reply since."""

    status: Status | None = None
    assignee_agent_id: int | None = None
    team_id: int | None = None
    priority: Priority | None = None
    tag: str | None = None
    unanswered: bool | None = None
    latest_only: bool = False


def encode_cursor(conversation: Conversation) -> str:
    """The cursor after ``conversation``."""
    raw = f"{conversation.last_message_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (time, id) a cursor points after; :class:`BadCursor` when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, number = raw.partition("|")
        at = datetime.fromisoformat(moment)
        if at.tzinfo is None:
            raise ValueError("naive time")
        return stored_time(at), int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("not a cursor from this API (use next_cursor as it was given)") from None


def _conditions(chosen: InboxFilter) -> list[ColumnElement[bool]]:
    c = conversations.c
    found: list[ColumnElement[bool]] = []
    if chosen.status is not None:
        found.append(c.status == chosen.status)
    if chosen.assignee_agent_id == 0:
        found.append(c.assignee_agent_id.is_(None))
    elif chosen.assignee_agent_id is not None:
        found.append(c.assignee_agent_id == chosen.assignee_agent_id)
    if chosen.team_id is not None:
        found.append(c.assignee_team_id == chosen.team_id)
    if chosen.priority is not None:
        found.append(c.priority == chosen.priority)
    if chosen.tag is not None:
        tagged = select(conversation_tags.c.tag).where(
            conversation_tags.c.conversation_id == c.id, conversation_tags.c.tag == chosen.tag
        )
        found.append(tagged.exists())
    if chosen.unanswered is not None:
        waiting = and_(
            c.last_customer_message_at.is_not(None),
            or_(
                c.last_agent_message_at.is_(None),
                c.last_agent_message_at < c.last_customer_message_at,
            ),
        )
        found.append(waiting if chosen.unanswered else ~waiting)
    if chosen.latest_only:
        found.append(c.latest)
    return found


def list_conversations(
    conn: Connection, chosen: InboxFilter, *, limit: int, cursor: str | None = None
) -> tuple[list[Conversation], str | None]:
    """A page of conversations, and the cursor of the next page (None: this is the last)."""
    c = conversations.c
    conditions = _conditions(chosen)
    if cursor is not None:
        at, after_id = decode_cursor(cursor)
        conditions.append(
            or_(c.last_message_at < at, and_(c.last_message_at == at, c.id < after_id))
        )
    rows = conn.execute(
        select(conversations)
        .where(*conditions)
        .order_by(c.last_message_at.desc(), c.id.desc())
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    tags = tags_of(conn, [row.id for row in page])
    found = [conversation_of(row, tags.get(row.id, ())) for row in page]
    following = encode_cursor(found[-1]) if len(rows) > limit and found else None
    return found, following
