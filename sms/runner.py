"""The SMS channel of conversation runs: where they live, and their turns as texts.

The session service (:mod:`workflows.sessions`) starts and resumes the runs; this adapter
gives it the conversation (:mod:`sms.conversations`) a run belongs to and, inside the
transaction that saves a turn, turns the turn's instructions into durable work: its texts
(:func:`sms.send_job.queue_text`, a menu as numbered options, see :mod:`sms.render`), its
timer (a ``run.timer`` job) and the conversation's waiting pointer.

Keys make every effect happen once: a text is keyed ``run:<run>:<turn>:<n>``, a timer
``timer:<run>:<turn>``.

*Automated* turns (started by a post-call event, or woken by a timer) respect the quiet
hours of the workflow's ``hours`` schedule: their texts are due when the quiet hours end, and
carry the schedule's name so that the send job checks the quiet hours again when they leave.
Turns that answer the contact's own text go out at once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from sms.conversations import Conversation, by_id, set_waiting, stop_waiting, touch
from sms.render import plan_turn
from sms.send_job import queue_text
from workflows.conversations.model import Conversation as ReadConversation
from workflows.jobs import enqueue
from workflows.phones import InvalidPhoneNumber
from workflows.runs import StoredRun
from workflows.sessions import TurnDone
from workflows.steps.base import SMS

log = logging.getLogger(__name__)

RUN_TIMER: Final = "run.timer"
"""The job kind that wakes a run waiting in a ``wait`` step; payload ``{"run_id", "turn"}``."""


class SmsConversations:
    """Conversation runs on the SMS channel (a :class:`workflows.sessions.ConversationChannel`)."""

    channel = SMS

    def open(self, conn: Connection, business: str, contact: str, now: datetime) -> Conversation:
        """The conversation between ``business`` and ``contact``, opened if need be."""
        return touch(conn, business, contact, now)

    def subject(self, conversation: Conversation) -> str:
        """The conversation's id, as runs record it."""
        return str(conversation.id)

    def by_id(self, conn: Connection, conversation_id: int) -> Conversation | None:
        """The conversation ``conversation_id``, or None."""
        return by_id(conn, conversation_id)

    def of_conversation(self, conversation: ReadConversation) -> Conversation:
        """The text conversation of one the caller has just read (nothing is read again)."""
        return Conversation(
            conversation.id,
            conversation.business_number,
            conversation.contact_number,
            conversation.waiting_run_id,
            conversation.waiting_since,
        )

    def of_run(self, conn: Connection, run: StoredRun) -> Conversation | None:
        """The conversation ``run`` belongs to."""
        return by_id(conn, int(run.subject))

    def contact(self, conversation: Conversation) -> str:
        """The contact's number."""
        return conversation.contact_number

    def apply(self, conn: Connection, conversation: Conversation, done: TurnDone) -> None:
        """Queue the turn's texts and timer; point the conversation at a run that waits for
        the contact's reply (or no longer)."""
        run, now = done.run, done.now
        plan = plan_turn(done.turn.instructions)
        contact, business = conversation.contact_number, conversation.business_number
        for index, text in enumerate(plan.texts):
            try:
                queue_text(
                    conn,
                    to=text.to or contact,
                    from_=text.sender or business,
                    body=text.body,
                    key=f"run:{run.id}:{done.turn_number}:{index}",
                    due_at=done.quiet_until,
                    # The send job checks these quiet hours again when the text leaves (a
                    # retry or a backlog may come due at night).
                    hours=done.hours,
                    now=now,
                )
            except InvalidPhoneNumber as error:
                log.warning("run %s: text not sent: %s", run.id, error)
        if plan.wake_at is not None and run.status == "waiting":
            enqueue(
                conn,
                RUN_TIMER,
                {"run_id": run.id, "turn": run.turn},
                dedupe_key=f"timer:{run.id}:{done.turn_number}",
                due_at=plan.wake_at,
                now=now,
            )
        if plan.awaits_reply and run.status == "waiting":
            set_waiting(conn, conversation.id, run.id, now)
        elif conversation.waiting_run_id == run.id:
            stop_waiting(conn, conversation.id, run.id)
        if done.quiet_until is not None and plan.texts:
            log.info(
                "run %s: quiet hours, texts held until %s", run.id, done.quiet_until.isoformat()
            )
