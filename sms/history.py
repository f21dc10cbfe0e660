"""Reading what was texted: the message log by filters, one message, text conversations with
their messages, and the opted-out numbers. Plain functions of a SQLAlchemy ``Connection``
(run them through ``Database.read``); times come back aware, in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, or_, select

from ringflow.database import stored_time
from sms.conversations import Conversation, by_id
from sms.db import conversations, messages, opt_outs
from sms.messages import MessageRow, message_from

__all__ = [
    "ConversationSummary",
    "OptOutEntry",
    "conversation_with_messages",
    "find_messages",
    "message_by_id",
    "opt_out_entry",
    "recent_conversations",
    "recent_opt_outs",
]


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One text conversation (our number, a contact) as listed."""

    id: int
    business_number: str
    contact_number: str
    created_at: datetime
    last_message_at: datetime
    waiting_run_id: str | None
    """The run waiting for the contact's reply (an SMS menu), if any."""
    waiting_since: datetime | None


@dataclass(frozen=True, slots=True)
class OptOutEntry:
    """An opted-out number: since when, and how (``keyword``, ``carrier_21610``, ``admin``)."""

    number: str
    opted_out_at: datetime
    source: str
    keyword: str | None


def _newest_messages(
    conn: Connection, conditions: list[ColumnElement[bool]], limit: int
) -> list[MessageRow]:
    query = (
        select(messages)
        .where(*conditions)
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(limit)
    )
    return [message_from(row._asdict()) for row in conn.execute(query).all()]


def find_messages(
    conn: Connection,
    *,
    limit: int,
    direction: str | None = None,
    status: str | None = None,
    contact: str | None = None,
) -> list[MessageRow]:
    """The newest ``limit`` messages, newest first; only those in ``direction``, with
    ``status``, with the contact ``contact`` (E.164), when given."""
    conditions: list[ColumnElement[bool]] = []
    if direction is not None:
        conditions.append(messages.c.direction == direction)
    if status is not None:
        conditions.append(messages.c.status == status)
    if contact is not None:
        conditions.append(messages.c.contact_number == contact)
    return _newest_messages(conn, conditions, limit)


def message_by_id(conn: Connection, message_id: int) -> MessageRow | None:
    """The message ``message_id``, if there is one."""
    found = _newest_messages(conn, [messages.c.id == message_id], 1)
    return found[0] if found else None


def _summary(row: Row[Any]) -> ConversationSummary:
    return ConversationSummary(
        id=row.id,
        business_number=row.business_number,
        contact_number=row.contact_number,
        created_at=stored_time(row.created_at),
        last_message_at=stored_time(row.last_message_at),
        waiting_run_id=row.waiting_run_id,
        waiting_since=None if row.waiting_since is None else stored_time(row.waiting_since),
    )


def recent_conversations(conn: Connection, limit: int) -> list[ConversationSummary]:
    """The ``limit`` conversations with the latest messages, latest first."""
    query = (
        select(conversations)
        .order_by(conversations.c.last_message_at.desc(), conversations.c.id.desc())
        .limit(limit)
    )
    return [_summary(row) for row in conn.execute(query)]


def _conversation_messages(conversation: Conversation) -> list[ColumnElement[bool]]:
    """Its texts: with its contact, from or to its business number."""
    business = conversation.business_number
    return [
        messages.c.contact_number == conversation.contact_number,
        or_(
            and_(messages.c.direction == "inbound", messages.c.to_number == business),
            and_(messages.c.direction == "outbound", messages.c.from_number == business),
        ),
    ]


def conversation_with_messages(
    conn: Connection, conversation_id: int, limit: int
) -> tuple[ConversationSummary, list[MessageRow]] | None:
    """The conversation ``conversation_id`` and its latest ``limit`` messages, oldest first;
    None when there is no such conversation."""
    conversation = by_id(conn, conversation_id)
    if conversation is None:
        return None
    row = conn.execute(select(conversations).where(conversations.c.id == conversation_id)).one()
    texts = _newest_messages(conn, _conversation_messages(conversation), limit)
    return _summary(row), texts[::-1]


def _opt_out(row: Row[Any]) -> OptOutEntry:
    return OptOutEntry(
        number=row.number,
        opted_out_at=stored_time(row.opted_out_at),
        source=row.source,
        keyword=row.keyword,
    )


def opt_out_entry(conn: Connection, number: str) -> OptOutEntry | None:
    """How ``number`` (E.164) opted out, if it did."""
    row = conn.execute(select(opt_outs).where(opt_outs.c.number == number)).first()
    return None if row is None else _opt_out(row)


def recent_opt_outs(conn: Connection, limit: int) -> list[OptOutEntry]:
    """The latest ``limit`` opt-outs, latest first."""
    query = (
        select(opt_outs).order_by(opt_outs.c.opted_out_at.desc(), opt_outs.c.number).limit(limit)
    )
    return [_opt_out(row) for row in conn.execute(query)]
