"""The web chat's part in the conversation API (registered under ``"chat"`` in
:class:`workflows.conversations.channels.ConversationChannels`): :class:`ChatOutbound` shows an
agent's reply (or a workflow's ``reply`` step) in the visitor's widget, live; :class:`ChatHistory`
adds the chat's messages to timelines. Internal notes never come here: they are timeline
events only, so they never reach the visitor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from chat.messages import Sender, add_message, conversation_messages
from chat.visitors import visitor_by_address
from workflows.conversations.channels import Hold, Sent, SourceEntry
from workflows.conversations.db import conversation_events
from workflows.conversations.model import Conversation
from workflows.steps.base import CHAT

GONE = "the chat visitor is unknown; the reply cannot be shown"


def _sender(conn: Connection, key: str) -> Sender:
    """``agent`` for a person's reply, ``bot`` for automation: the reply's timeline event
    (its key ends ``:e<event id>``) says who wrote it."""
    _, _, event = key.rpartition(":e")
    if not event.isdigit():
        return "agent"
    actor = conn.execute(
        select(conversation_events.c.actor_type).where(conversation_events.c.id == int(event))
    ).scalar()
    return "bot" if actor == "automation" else "agent"


class ChatOutbound:
    """Shows text in a chat conversation's widget (at once: a visitor reading the chat is
    there now, so an automated reply's quiet hours do not hold it)."""

    def send(
        self,
        conn: Connection,
        conversation: Conversation,
        body: str,
        key: str,
        now: datetime,
        *,
        hold: Hold | None = None,
    ) -> Sent:
        visitor = visitor_by_address(conn, conversation.contact_number)
        if visitor is None:
            return Sent(None, GONE)
        message_id = add_message(
            conn,
            visitor_id=visitor.id,
            conversation_id=conversation.id,
            sender=_sender(conn, key),
            body=body,
            now=now,
        )
        return Sent(message_id)


class ChatHistory:
    """The chat messages of a conversation, for its timeline."""

    def entries(
        self,
        conn: Connection,
        conversation: Conversation,
        since: datetime | None,
        until: datetime | None,
    ) -> list[SourceEntry]:
        if conversation.channel != CHAT:
            return []
        return [
            SourceEntry(
                at=message.at,
                kind="message",
                ref=str(message.id),
                data={
                    "channel": CHAT,
                    "direction": "inbound" if message.sender == "visitor" else "outbound",
                    "sender": message.sender,
                    "body": message.body,
                    "buttons": [list(pair) for pair in message.buttons],
                },
            )
            for message, _visitor in conversation_messages(conn, conversation.id, since, until)
        ]
