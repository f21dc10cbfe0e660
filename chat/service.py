"""What a chat visitor does, as write transactions: arrive, write, say who they are.

Each method is one transaction: the visitor's message, its place in the conversation (the
core's timeline: ``message.received``, which raises the conversation triggers), the answer of
the run waiting for it (through the session service) and the messages that answer shows all
commit together, and are announced live after the commit.

* :meth:`ChatService.arrive`: a connection presented its visitor id (or got one). The site's
  verified identity becomes the visitor's contact attributes (an identity no longer sent is
  taken away). A visitor without a conversation yet starts one, and the ``chat.started``
  workflow greets them; with no ``chat.started`` workflow, the conversation starts with the
  visitor's first message (no empty conversations in the inbox).
* :meth:`ChatService.say`: the visitor wrote (or tapped an answer button: ``choice`` is its
  key, which the waiting menu or survey receives, while the conversation shows the label).
  A message re-sent under the same ``client_key`` (after a lost connection) is kept once.
* :meth:`ChatService.introduce`: the visitor gave a name, an email and/or a phone number:
  they become the chat contact's name and attributes, and the visitor is matched to the SMS
  and voice contact with that number (made if new) or, without a number, the contact whose
  ``email`` attribute it is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, func, select, update

from chat.conversations import BUSINESS, ChatConversations, waiting_run
from chat.db import chat_messages, chat_visitors
from chat.messages import ChatMessage, add_message, by_client_key, messages_after, place_message
from chat.visitors import Identity, Visitor, ensure_visitor
from ringflow.database import Database
from workflows.contacts import ensure_contact, lock_contact, set_attributes
from workflows.contacts_db import contacts
from workflows.conversations.customer import customer_message, open_thread
from workflows.conversations.events import mark_answer
from workflows.events import ConversationEvent, TextReceived
from workflows.phones import InvalidPhoneNumber, normalize_number
from workflows.sessions import SessionService, TextQueue
from workflows.steps.base import CHAT
from workflows.triggers import CHAT_STARTED

log = logging.getLogger(__name__)

_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$")
MAX_NAME: Final = 120


class VisitorError(ValueError):
    """What the visitor sent cannot be taken; the message says why (shown to them)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Arrival:
    """A visitor who connected: who, whether their conversation started now and, if it did,
    what became of its ``chat.started`` event, in words."""

    visitor: Visitor
    started: bool
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Said:
    """A visitor's message as kept: its id and what became of it, in words."""

    message_id: int
    outcome: str


class ChatService:
    """The chat channel's way into the core (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        sessions: SessionService,
        clock: Callable[[], datetime],
        *,
        reopen_window: timedelta,
        max_chars: int,
        greets: Callable[[], bool] = lambda: True,
        texts: TextQueue | None = None,
    ) -> None:
        self._db = db
        self._greets = greets
        self._sessions = sessions
        self._clock = clock
        self._reopen_window = reopen_window
        self.max_chars = max_chars
        self.channel = ChatConversations(texts)

    async def messages_after(self, visitor_id: int, after: int) -> list[ChatMessage]:
        """The visitor's messages after id ``after`` (a page of them)."""
        return await self._db.read(lambda conn: messages_after(conn, visitor_id, after))

    async def arrive(self, public_id: str, identity: Identity | None) -> Arrival:
        """The visitor ``public_id`` connected, vouched for by ``identity`` (or not)."""
        now = self._clock()
        return await self._db.write(lambda conn: self.arrive_in(conn, public_id, identity, now))

    def arrive_in(
        self,
        conn: Connection,
        public_id: str,
        identity: Identity | None,
        now: datetime,
        *,
        version_id: int | None = None,
    ) -> Arrival:
        """:meth:`arrive` in the caller's transaction; ``version_id`` greets the visitor
        with that workflow version (a test chat's), whether any is published or not."""
        visitor = ensure_visitor(conn, public_id, now)
        locked = lock_contact(conn, visitor.address, now=now)
        attributes = dict(identity.attributes) if identity else {}
        removed = {key: None for key in visitor.identity if key not in attributes}
        if attributes or removed:
            set_attributes(conn, visitor.address, {**removed, **attributes}, now=now)
            locked = lock_contact(conn, visitor.address, now=now)
        if attributes != visitor.identity or (identity and identity.user_id):
            conn.execute(
                update(chat_visitors)
                .where(chat_visitors.c.id == visitor.id)
                .values(identity=attributes, user_id=identity.user_id if identity else None)
            )
        has_messages = conn.execute(
            select(func.count())
            .select_from(chat_messages)
            .where(chat_messages.c.visitor_id == visitor.id)
        ).scalar_one()
        if has_messages or (version_id is None and not self._greets()):
            # No greeting to show: the conversation starts with the visitor's first message.
            return Arrival(visitor, False)
        conversation, created = open_thread(
            conn, channel=CHAT, business=BUSINESS, contact=visitor.address, now=now
        )
        if not created:
            return Arrival(visitor, False)
        event = ConversationEvent(
            trigger=CHAT_STARTED,
            conversation_id=conversation.id,
            contact=visitor.address,
            business=BUSINESS,
            key=f"chat-started:{conversation.id}",
        )
        outcome = self._sessions.start_in(
            conn, event, self.channel, now, locked=locked, version_id=version_id
        )
        log.info("chat conversation %d started: %s", conversation.id, outcome)
        return Arrival(visitor, True, outcome)

    async def say(
        self, visitor: Visitor, text: str, *, choice: str | None, client_key: str | None
    ) -> int:
        """The visitor wrote ``text`` (tapping the answer ``choice``); the message's id."""
        body = self.checked(text, choice=choice, client_key=client_key)
        now = self._clock()
        said = await self._db.write(
            lambda conn: self.say_in(conn, visitor, body, choice, client_key, now)
        )
        return said.message_id

    def checked(self, text: str, *, choice: str | None, client_key: str | None) -> str:
        """The message ``text`` as kept (stripped); :class:`VisitorError` if it cannot be."""
        body = text.strip()
        if not body:
            raise VisitorError("empty", "an empty message")
        if len(body) > self.max_chars:
            raise VisitorError("too_long", f"messages are at most {self.max_chars} characters")
        if client_key is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", client_key):
            raise VisitorError("bad_key", "a message's key is 1-64 letters, digits, - or _")
        if choice is not None and not re.fullmatch(r"[0-9*#]{1,8}", choice):
            raise VisitorError("bad_choice", "not one of the answers")
        return body

    def say_in(
        self,
        conn: Connection,
        visitor: Visitor,
        body: str,
        choice: str | None,
        client_key: str | None,
        now: datetime,
    ) -> Said:
        """:meth:`say` in the caller's transaction, with ``body`` :meth:`checked`."""
        if client_key is not None:
            kept = by_client_key(conn, visitor.id, client_key)
            if kept is not None:
                return Said(kept, "sent again: kept once")
        locked = lock_contact(conn, visitor.address, now=now)
        message_id = add_message(
            conn,
            visitor_id=visitor.id,
            conversation_id=None,
            sender="visitor",
            body=body,
            now=now,
            client_key=client_key,
        )
        conversation = customer_message(
            conn,
            channel=CHAT,
            business=BUSINESS,
            contact=visitor.address,
            message_id=message_id,
            body=body,
            now=now,
            reopen_window=self._reopen_window,
        )
        place_message(conn, message_id, conversation.id)
        run_id = waiting_run(conn, conversation.id)
        answered: str | None = None
        if run_id is not None:
            event = TextReceived(
                message_id=f"chat-{message_id}",
                sender=visitor.address,
                recipient=BUSINESS,
                body=choice if choice is not None else body,
            )
            answered = self._sessions.reply_in(
                conn, event, run_id, locked, self.channel, conversation, now
            )
            if answered is not None:
                mark_answer(conn, conversation.id, message_id, run_id)
            log.info("chat message %d: %s", message_id, answered or "its run no longer waits")
        return Said(message_id, answered or "no run waits for it: it waits for a person")

    async def introduce(
        self, visitor: Visitor, name: str | None, email: str | None, phone: str | None
    ) -> Visitor:
        """The visitor gave who they are (see the module docstring); the visitor as stored."""
        name = (name or "").strip()[:MAX_NAME] or None
        email = (email or "").strip().lower() or None
        if email is not None and not _EMAIL.match(email):
            raise VisitorError("bad_email", "that does not look like an email address")
        number: str | None = None
        if phone and phone.strip():
            try:
                number = normalize_number(phone)
            except InvalidPhoneNumber:
                raise VisitorError(
                    "bad_phone", "write the number with its country code (+1 555...)"
                ) from None
        now = self._clock()
        return await self._db.write(
            lambda conn: self._introduce(conn, visitor, name, email, number, now)
        )

    def _introduce(
        self,
        conn: Connection,
        visitor: Visitor,
        name: str | None,
        email: str | None,
        number: str | None,
        now: datetime,
    ) -> Visitor:
        matched = number
        if number is not None:
            contact = ensure_contact(conn, number, now=now)
            if name and not contact.name:
                conn.execute(update(contacts).where(contacts.c.id == contact.id).values(name=name))
            if email and "email" not in contact.attributes:
                set_attributes(conn, number, {"email": email}, now=now)
        elif email is not None:
            found = conn.execute(
                select(contacts.c.number)
                .where(
                    contacts.c.attributes["email"].as_string() == email,
                    ~contacts.c.number.startswith("chat:"),
                )
                .order_by(contacts.c.id)
                .limit(1)
            ).scalar()
            matched = None if found is None else str(found)
        updates: dict[str, str | None] = {}
        if email:
            updates["email"] = email
        if number:
            updates["phone"] = number
        if updates:
            set_attributes(conn, visitor.address, updates, now=now)
        if name:
            conn.execute(
                update(contacts).where(contacts.c.number == visitor.address).values(name=name)
            )
        values: dict[str, object] = {}
        if name:
            values["name"] = name
        if email:
            values["email"] = email
        if number:
            values["phone"] = number
        if matched:
            values["contact_number"] = matched
        if values:
            conn.execute(
                update(chat_visitors).where(chat_visitors.c.id == visitor.id).values(values)
            )
        return ensure_visitor(conn, visitor.public_id, now)
