"""The jobs that run workflows on the SMS channel.

``call.event`` (queued with a call's final status, see :mod:`ivr.service`): picks the one
workflow the event starts (``call.missed``, ``call.ended`` or ``call.after_hours``; its
``to`` numbers and ``when`` filter decide) and starts it for the caller, unless this event
was handled before or the workflow's per-recipient limit (``once_per``) holds it back.

``sms.inbound`` (queued with an inbound text that is not a compliance keyword, see
:mod:`sms.routes`): a run waiting for this contact's reply (an SMS menu) takes the text;
otherwise it starts the ``sms.received`` workflow the text matches, if any; neither when the
contact has reached the per-number reply limit (:mod:`sms.reply_limits`).

``run.timer`` (queued by a ``wait`` step, see :mod:`sms.runner`): wakes the run.

Each handler parses its payload into an event (:mod:`workflows.events`) and hands it to the
session service (:mod:`workflows.sessions`), which picks the workflow or the run, runs it and
stores the turn, with the texts of :class:`sms.runner.SmsConversations`, in one transaction;
the event's firing row (:mod:`workflows.firings`), the run's turn check and the texts' keys
make a job that runs twice (a worker lost after the commit) change nothing the second time.
What stays here is SMS policy: the order of a contact's texts, the per-number reply limit and
how long a conversation waits for a reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection

from ringflow.database import Database
from sms.conversations import Conversation, stop_waiting, touch
from sms.inbound import InboundText, unhandled_texts
from sms.reply_limits import ReplyLimit
from sms.runner import RUN_TIMER, SmsConversations
from workflows.contacts import ContactRow, lock_contact
from workflows.events import CallEnded, TextReceived
from workflows.firings import fire
from workflows.jobs import ClaimedJob, PermanentJobError
from workflows.runs import end_run
from workflows.sessions import SessionService

__all__ = [
    "RUN_TIMER",
    "SMS_INBOUND",
    "CallEventHandler",
    "InboundTextHandler",
    "RunTimerHandler",
]

log = logging.getLogger(__name__)

SMS_INBOUND: Final = "sms.inbound"
"""Payload ``{"sid", "from", "to", "body"}`` of a text received; dedupe key ``inbound:<sid>``."""


def _moment(text: object, default: datetime) -> datetime:
    """An ISO time from a payload (aware), or ``default``."""
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return default
        if moment.tzinfo is not None:
            return moment
    return default


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str):
        raise PermanentJobError(f"payload has no text {name!r}")
    return value


class _Base:
    def __init__(
        self,
        db: Database,
        sessions: SessionService,
        clock: Callable[[], datetime],
        channel: SmsConversations | None = None,
    ) -> None:
        self._db = db
        self._sessions = sessions
        self._clock = clock
        self._channel = channel or SmsConversations()


class CallEventHandler(_Base):
    """Runs the workflow of a call's outcome event.

    Usually inside the final status callback's own transaction (:meth:`handle_in`, given to
    :class:`ivr.service.VoiceService` by the composition root), so that the texts are queued
    with the outcome that caused them, one hop and one transaction fewer; as a job (kind
    :data:`~workflows.triggers.CALL_EVENT_JOB`) when that failed, or for events queued by an
    older server.
    """

    async def __call__(self, job: ClaimedJob) -> None:
        event = _text(job.payload, "event")
        facts = job.payload.get("facts")
        if not isinstance(facts, dict):
            raise PermanentJobError("payload has no facts")
        now = self._clock()
        happened_at = _moment(facts.get("ended_at"), now)
        result = await self._db.write(
            lambda conn: self.handle_in(
                conn, event, facts, job.dedupe_key, now, happened_at=happened_at
            )
        )
        log.info("call %s: %s: %s", facts.get("sid"), event, result)

    def handle_in(
        self,
        conn: Connection,
        event: str,
        facts: Mapping[str, Any],
        event_key: str,
        now: datetime,
        happened_at: datetime | None = None,
    ) -> str:
        """Start the workflow ``event`` (with the call's ``facts``) calls for, in the caller's
        transaction; what happened, in words. ``event_key`` makes it happen once."""
        ended = CallEnded(
            trigger=event,
            caller=_text(facts, "from"),
            called=_text(facts, "to"),
            facts=facts,
            key=event_key,
            at=happened_at,
        )
        return self._sessions.start_in(conn, ended, self._channel, now)


class InboundTextHandler(_Base):
    """Hands received texts to the run waiting for them, or to an ``sms.received`` workflow
    (job kind :data:`SMS_INBOUND`).

    A contact's texts are handled in the order they arrived, whatever order their jobs run
    in: under the contact's lock, the job handles every earlier text of the conversation not
    handled yet, then its own (a text's firing row marks it handled; the earlier texts' own
    jobs then find nothing to do). "menu" then "1" sent a second apart stay in that order.

    A text from a number that has reached ``reply_limit`` (:class:`sms.reply_limits.ReplyLimit`)
    is marked handled (firing status ``limited``) without being answered, and logged: two
    auto-responders cannot keep each other going.
    """

    def __init__(
        self,
        db: Database,
        sessions: SessionService,
        clock: Callable[[], datetime],
        *,
        reply_limit: ReplyLimit | None = None,
    ) -> None:
        super().__init__(db, sessions, clock)
        self._reply_limit = reply_limit or ReplyLimit()

    async def __call__(self, job: ClaimedJob) -> None:
        sid = _text(job.payload, "sid")
        sender, business = _text(job.payload, "from"), _text(job.payload, "to")
        now = self._clock()
        outcomes = await self._db.write(
            lambda conn: self.handle_in(conn, sid, sender, business, now)
        )
        for handled_sid, outcome in outcomes:
            log.info("message %s: %s", handled_sid, outcome)

    def handle_in(
        self,
        conn: Connection,
        sid: str,
        sender: str,
        business: str,
        now: datetime,
        *,
        version_id: int | None = None,
    ) -> list[tuple[str, str]]:
        """Handle text ``sid`` and the earlier ones of its conversation not handled yet, in
        the caller's transaction; each one's MessageSid and what became of it, in words.
        ``version_id``: a text that starts a workflow starts that version (a test
        conversation's) instead of the catalog's choice."""
        locked = lock_contact(conn, sender, now=now)
        done = []
        for message in unhandled_texts(conn, locked.number, business, sid):
            outcome = self._handle(conn, message, locked, business, now, version_id)
            done.append((message.sid, outcome))
        return done

    def _handle(
        self,
        conn: Connection,
        text: InboundText,
        locked: ContactRow,
        business: str,
        now: datetime,
        version_id: int | None = None,
    ) -> str:
        event = TextReceived(
            message_id=text.sid, sender=locked.number, recipient=business, body=text.body
        )
        contact = locked.number
        conversation = touch(conn, business, contact, now)
        if self._reply_limit.reached(conn, contact, now):
            fire(
                conn,
                event_key=event.key,
                workflow_id=None,
                contact=contact,
                now=now,
                status="limited",
            )
            log.warning(
                "message %s from %s: not answered, the number reached %s",
                text.sid,
                contact,
                self._reply_limit.describe(),
            )
            return "not answered (reply limit)"
        run_id = conversation.waiting(now)
        if run_id is not None:
            answered = self._sessions.reply_in(
                conn, event, run_id, locked, self._channel, conversation, now
            )
            if answered is not None:
                return answered
        elif conversation.waiting_run_id is not None:
            log.info(
                "conversation %d: run %s waited too long",
                conversation.id,
                conversation.waiting_run_id,
            )
            _expire(conn, conversation, conversation.waiting_run_id, now)
        return self._sessions.start_in(
            conn, event, self._channel, now, locked=locked, version_id=version_id
        )


def _expire(conn: Connection, conversation: Conversation, run_id: str, now: datetime) -> None:
    end_run(conn, run_id, "expired", now=now)
    stop_waiting(conn, conversation.id, run_id)


class RunTimerHandler(_Base):
    """Wakes a run whose ``wait`` is over (job kind :data:`RUN_TIMER`)."""

    async def __call__(self, job: ClaimedJob) -> None:
        run_id = _text(job.payload, "run_id")
        await self._sessions.timer_fired(run_id, job.payload.get("turn"), self._channel)
