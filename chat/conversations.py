"""The web chat channel of conversation runs (a :class:`workflows.sessions.ConversationChannel`).

A chat conversation is a conversation of the core model on the channel ``chat``, between the
business's chat address :data:`BUSINESS` and the visitor's contact key ``chat:<public id>``.
The session service starts and resumes its runs; :meth:`ChatConversations.apply` turns a
saved turn's instructions into the widget's messages, in the same transaction: ``say`` as a
bot message, a menu's or question's ``Gather`` as one message with its answers as buttons
(a ``survey`` shows 1-5), ``wait`` as a durable timer (job :data:`CHAT_RUN_TIMER`), a
``send_sms`` with its ``from`` number as a text queued through the :class:`TextQueue` it is
given (a chat conversation has no number of ours to text from otherwise). A run
that asks something is the conversation's waiting run until the visitor answers (the
``waiting_run_id`` pointer of the core table, shared with the SMS channel's runs).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, select, update

from chat.messages import add_message
from chat.visitors import VISITOR_PREFIX, visitor_by_address, visitor_verified_as
from workflows.conversations.customer import open_thread
from workflows.conversations.db import conversations
from workflows.conversations.errors import UnknownConversation
from workflows.conversations.model import Conversation, load
from workflows.instructions import Gather, Say, SendText, WaitUntil
from workflows.jobs import enqueue
from workflows.phones import InvalidPhoneNumber
from workflows.runs import StoredRun
from workflows.sessions import TextQueue, TurnDone
from workflows.steps.base import CHAT

log = logging.getLogger(__name__)

BUSINESS: Final = "web"
"""The business's side of every chat conversation (a workflow's ``to`` never names it: chat
workflows are catch-alls)."""
CHAT_RUN_TIMER: Final = "chat.run.timer"
"""The job kind that wakes a chat run waiting in a ``wait`` step; payload ``{"run_id",
"turn"}``, dedupe key ``chat-timer:<run>:<turn>``."""


def waiting_run(conn: Connection, conversation_id: int) -> str | None:
    """The run waiting for the visitor's answer in the conversation, or None."""
    query = select(conversations.c.waiting_run_id).where(conversations.c.id == conversation_id)
    found = conn.execute(query).scalar()
    return None if found is None else str(found)


def _point(conn: Connection, conversation_id: int, run_id: str | None, now: datetime) -> None:
    conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(waiting_run_id=run_id, waiting_since=now if run_id else None)
    )


class ChatConversations:
    """Conversation runs on the web chat (see the module docstring); ``texts`` queues the
    texts of ``send_sms`` steps (None: they are logged and dropped)."""

    channel = CHAT

    def __init__(self, texts: TextQueue | None = None) -> None:
        self._texts = texts

    def open(self, conn: Connection, business: str, contact: str, now: datetime) -> Conversation:
        """The visitor's latest conversation, opened if need be.

        ``contact`` is a visitor's key, or a phone number (an external event names the
        customer by phone): then the conversation is that of the visitor last seen of those
        the site signed in with that ``phone`` (a verified identity), on the chat's own
        business side, so that the message shows in their widget. No such visitor: a
        conversation nobody sees (logged when it has something to show)."""
        if not contact.startswith(VISITOR_PREFIX):
            visitor = visitor_verified_as(conn, contact)
            if visitor is not None:
                business, contact = BUSINESS, visitor.address
        conversation, _created = open_thread(
            conn, channel=CHAT, business=business, contact=contact, now=now
        )
        return conversation

    def subject(self, conversation: Conversation) -> str:
        """The conversation's id, as runs record it."""
        return str(conversation.id)

    def by_id(self, conn: Connection, conversation_id: int) -> Conversation | None:
        """The conversation ``conversation_id``, or None."""
        try:
            return load(conn, conversation_id)
        except UnknownConversation:
            return None

    def of_conversation(self, conversation: Conversation) -> Conversation:
        """The conversation the caller has just read: the chat's are the core's own."""
        return conversation

    def of_run(self, conn: Connection, run: StoredRun) -> Conversation | None:
        """The conversation ``run`` belongs to."""
        return self.by_id(conn, int(run.subject))

    def contact(self, conversation: Conversation) -> str:
        """The visitor's contact key."""
        return conversation.contact_number

    def _queue_text(self, conn: Connection, text: SendText, done: TurnDone, key: str) -> None:
        """Queue a ``send_sms`` text to its ``to`` from its ``from`` (an automated turn's is
        held by the quiet hours of the workflow's ``hours``, as on SMS); a text without
        ``from``, or with nobody to queue it, is logged and dropped: the run goes on."""
        if text.sender is None or self._texts is None:
            why = "it names no `from` number" if self._texts else "texts are not set up"
            log.warning("run %s: text not sent from a chat conversation: %s", done.run.id, why)
            return
        try:
            self._texts(
                conn,
                to=text.to,
                from_=text.sender,
                body=text.body,
                key=key,
                now=done.now,
                due_at=done.quiet_until,
                hours=done.hours,
            )
        except InvalidPhoneNumber as error:
            # The visitor's own key is no phone number: a `send_sms` without `to` on chat.
            log.warning("run %s: text not sent: %s", done.run.id, error)

    def apply(self, conn: Connection, conversation: Conversation, done: TurnDone) -> None:
        """Show the turn's messages to the visitor; set its timer; point the conversation at
        a run that waits for the visitor's answer (or no longer)."""
        run, now = done.run, done.now
        visitor = visitor_by_address(conn, conversation.contact_number)
        says: list[str] = []
        asks = False
        wake_at: datetime | None = None
        texts = 0

        def show(body: str, buttons: tuple[tuple[str, str], ...] = ()) -> None:
            if visitor is None:
                log.warning("conversation %d: no chat visitor to show it to", conversation.id)
                return
            add_message(
                conn,
                visitor_id=visitor.id,
                conversation_id=conversation.id,
                sender="bot",
                body=body,
                now=now,
                buttons=buttons,
            )

        for instruction in done.turn.instructions:
            if isinstance(instruction, Say):
                says.append(instruction.text)
            elif isinstance(instruction, Gather):
                question = [p.text for p in instruction.prompts if isinstance(p, Say)]
                for text in says[:-1]:
                    show(text)
                lead = says[-1:] + question
                says.clear()
                show("\n".join(lead), instruction.choices)
                asks = True
            elif isinstance(instruction, WaitUntil):
                wake_at = instruction.at
            elif isinstance(instruction, SendText):
                self._queue_text(
                    conn, instruction, done, f"run:{run.id}:{done.turn_number}:{texts}"
                )
                texts += 1
        for text in says:
            show(text)
        if wake_at is not None and run.status == "waiting":
            enqueue(
                conn,
                CHAT_RUN_TIMER,
                {"run_id": run.id, "turn": run.turn},
                dedupe_key=f"chat-timer:{run.id}:{done.turn_number}",
                due_at=wake_at,
                now=now,
            )
        if asks and run.status == "waiting":
            _point(conn, conversation.id, run.id, now)
        elif waiting_run(conn, conversation.id) == run.id:
            _point(conn, conversation.id, None, now)
