"""The messages a visitor's widget shows: written in the transaction that causes them,
announced live to every process (:func:`ringflow.live.publish`, topic :data:`TOPIC`, key the
visitor's id), read back by the widget's connection from its cursor (the last id it has)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Connection, select, update

from chat.db import chat_messages
from ringflow.database import stored_time
from ringflow.live import publish

TOPIC: Final = "chat"
"""The live topic of a visitor's messages (key: the visitor's row id)."""
PAGE: Final = 200
"""Messages read at once by a connection catching up."""

Sender = Literal["visitor", "bot", "agent"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message as the widget gets it."""

    id: int
    at: datetime
    sender: Sender
    body: str
    buttons: tuple[tuple[str, str], ...]
    client_key: str | None

    def frame(self) -> dict[str, Any]:
        """The message as a JSON frame for the widget."""
        frame: dict[str, Any] = {
            "type": "message",
            "id": self.id,
            "at": self.at.isoformat(),
            "from": self.sender,
            "text": self.body,
        }
        if self.buttons:
            frame["buttons"] = [{"key": key, "label": label} for key, label in self.buttons]
        if self.client_key is not None:
            frame["client_key"] = self.client_key
        return frame


def add_message(
    conn: Connection,
    *,
    visitor_id: int,
    conversation_id: int | None,
    sender: Sender,
    body: str,
    now: datetime,
    buttons: Sequence[tuple[str, str]] = (),
    client_key: str | None = None,
) -> int:
    """Store a message for the visitor's widget and announce it after commit; its id."""
    message_id = int(
        conn.execute(
            chat_messages.insert()
            .values(
                visitor_id=visitor_id,
                conversation_id=conversation_id,
                at=now,
                sender=sender,
                body=body,
                buttons=[list(pair) for pair in buttons] or None,
                client_key=client_key,
            )
            .returning(chat_messages.c.id)
        ).scalar_one()
    )
    publish(conn, TOPIC, visitor_id, message=message_id)
    return message_id


def place_message(conn: Connection, message_id: int, conversation_id: int) -> None:
    """Put message ``message_id`` in conversation ``conversation_id``."""
    conn.execute(
        update(chat_messages)
        .where(chat_messages.c.id == message_id)
        .values(conversation_id=conversation_id)
    )


def by_client_key(conn: Connection, visitor_id: int, client_key: str) -> int | None:
    """The visitor's message the widget sent as ``client_key`` (kept already), or None."""
    found = conn.execute(
        select(chat_messages.c.id).where(
            chat_messages.c.visitor_id == visitor_id, chat_messages.c.client_key == client_key
        )
    ).scalar()
    return None if found is None else int(found)


def _message(row: Any) -> ChatMessage:
    return ChatMessage(
        id=row.id,
        at=stored_time(row.at),
        sender=row.sender,
        body=row.body,
        buttons=tuple((str(key), str(label)) for key, label in row.buttons or ()),
        client_key=row.client_key,
    )


def messages_after(
    conn: Connection, visitor_id: int, after: int, limit: int = PAGE
) -> list[ChatMessage]:
    """The visitor's messages after the id ``after``, oldest first, at most ``limit``."""
    rows = conn.execute(
        select(chat_messages)
        .where(chat_messages.c.visitor_id == visitor_id, chat_messages.c.id > after)
        .order_by(chat_messages.c.id)
        .limit(limit)
    ).all()
    return [_message(row) for row in rows]


def conversation_messages(
    conn: Connection, conversation_id: int, since: datetime | None, until: datetime | None
) -> list[tuple[ChatMessage, int]]:
    """The messages of a conversation between two times, with their visitor's row id."""
    conditions = [chat_messages.c.conversation_id == conversation_id]
    if since is not None:
        conditions.append(chat_messages.c.at >= since)
    if until is not None:
        conditions.append(chat_messages.c.at < until)
    rows = conn.execute(
        select(chat_messages).where(*conditions).order_by(chat_messages.c.id).limit(1000)
    ).all()
    return [(_message(row), int(row.visitor_id)) for row in rows]
