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

Each handler reads what it needs, then does all its writing in one transaction; the event's
firing row (:mod:`workflows.firings`), the run's turn check and the texts' keys make a job
that runs twice (a worker lost after the commit) change nothing the second time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection

from ringflow.database import Database
from sms.conversations import Conversation, by_id, stop_waiting, touch
from sms.inbound import InboundText, unhandled_texts
from sms.reply_limits import ReplyLimit
from sms.runner import RUN_TIMER, MessageRunner, TurnInputs
from workflows.catalog import ActiveWorkflow, WorkflowCatalog
from workflows.conditions import FilterContext
from workflows.contacts import ContactRow, contact_values, lock_contact
from workflows.events import DigitsReceived, TimerFired
from workflows.firings import failed, fire
from workflows.jobs import ClaimedJob, PermanentJobError
from workflows.phones import InvalidPhoneNumber
from workflows.runs import StoredRun, end_run, load_run, new_run_id
from workflows.steps.base import SMS
from workflows.triggers import SMS_RECEIVED

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
_KEYS = re.compile(r"^[0-9*#]{1,8}$")


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
        catalog: WorkflowCatalog,
        runner: MessageRunner,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._runner = runner
        self._clock = clock

    def _start(
        self,
        conn: Connection,
        active: ActiveWorkflow,
        event_key: str,
        business: str,
        locked: ContactRow,
        call: Mapping[str, Any],
        inputs: TurnInputs,
        happened_at: datetime,
    ) -> str:
        """Start ``active`` for ``locked`` (the contact, locked by the caller) unless this
        event fired before or the limit holds it back; the limit counts from when events
        happened, not from when a worker got to them."""
        run_id = new_run_id(inputs.now)
        firing = fire(
            conn,
            event_key=event_key,
            workflow_id=active.workflow.id,
            contact=locked.number,
            now=happened_at,
            once_per=active.trigger.limit_seconds,
            run_id=run_id,
        )
        if firing != "new":
            return firing
        conversation = touch(conn, business, locked.number, inputs.now)
        run = self._runner.start(conn, active, conversation, call, inputs, run_id)
        if run.status == "failed":
            failed(conn, event_key)
        return "started"


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
        business, caller = _text(facts, "to"), _text(facts, "from")
        try:
            contact = lock_contact(conn, caller, now=now)  # created on first contact
        except InvalidPhoneNumber:
            return "the caller has no number to text"
        ctx = FilterContext(
            now=now,
            channel=SMS,
            called=business,
            contact=contact.values(),
            outcome=facts.get("outcome"),
            duration=facts.get("duration"),
            schedules=self._catalog.schedules.view(),
        )
        active = self._catalog.match(event, business, ctx)
        if active is None:
            return "no workflow takes it"
        inputs = TurnInputs(now, contact.values(), automated=True)
        started = self._start(
            conn, active, event_key, business, contact, facts, inputs, happened_at or now
        )
        return f"workflow {active.workflow.id}: {started}"


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
        catalog: WorkflowCatalog,
        runner: MessageRunner,
        clock: Callable[[], datetime],
        *,
        reply_limit: ReplyLimit | None = None,
    ) -> None:
        super().__init__(db, catalog, runner, clock)
        self._reply_limit = reply_limit or ReplyLimit()

    async def __call__(self, job: ClaimedJob) -> None:
        sid = _text(job.payload, "sid")
        sender, business = _text(job.payload, "from"), _text(job.payload, "to")
        now = self._clock()
        outcomes = await self._db.write(
            lambda conn: self._handle_pending(conn, sid, sender, business, now)
        )
        for handled_sid, outcome in outcomes:
            log.info("message %s: %s", handled_sid, outcome)

    def _handle_pending(
        self, conn: Connection, sid: str, sender: str, business: str, now: datetime
    ) -> list[tuple[str, str]]:
        locked = lock_contact(conn, sender, now=now)
        done = []
        for message in unhandled_texts(conn, locked.number, business, sid):
            done.append((message.sid, self._handle(conn, message, locked, business, now)))
        return done

    def _handle(
        self, conn: Connection, text: InboundText, locked: ContactRow, business: str, now: datetime
    ) -> str:
        key = f"inbound:{text.sid}"
        contact = locked.number
        conversation = touch(conn, business, contact, now)
        if self._reply_limit.reached(conn, contact, now):
            fire(conn, event_key=key, workflow_id=None, contact=contact, now=now, status="limited")
            log.warning(
                "message %s from %s: not answered, the number reached %s",
                text.sid,
                contact,
                self._reply_limit.describe(),
            )
            return "not answered (reply limit)"
        values = locked.values()
        message = {"body": text.body, "sid": text.sid}
        inputs = TurnInputs(now, values, automated=False, message=message)
        run_id = conversation.waiting(now)
        if run_id is not None:
            stored = load_run(conn, run_id)
            if stored is not None and stored.status == "waiting":
                workflow = self._catalog.version_in(conn, stored.version_id)
                fire(
                    conn,
                    event_key=key,
                    workflow_id=workflow.id,
                    contact=contact,
                    now=now,
                    status="reply",
                )
                stripped = text.body.strip()
                reply = DigitsReceived(
                    digits=stripped if _KEYS.match(stripped) else "", speech=text.body
                )
                self._runner.resume(conn, stored, workflow, conversation, reply, inputs)
                return f"answers run {run_id}"
        elif conversation.waiting_run_id is not None:
            log.info(
                "conversation %d: run %s waited too long",
                conversation.id,
                conversation.waiting_run_id,
            )
            _expire(conn, conversation, conversation.waiting_run_id, now)
        ctx = FilterContext(
            now=now,
            channel=SMS,
            called=business,
            text=text.body,
            contact=values,
            schedules=self._catalog.schedules.view(),
        )
        active = self._catalog.match(SMS_RECEIVED, business, ctx)
        if active is None:
            fire(conn, event_key=key, workflow_id=None, contact=contact, now=now, status="ignored")
            return "no sms.received workflow takes it"
        call = {"from": contact, "to": business}
        started = self._start(conn, active, key, business, locked, call, inputs, now)
        return f"workflow {active.workflow.id}: {started}"


def _expire(conn: Connection, conversation: Conversation, run_id: str, now: datetime) -> None:
    end_run(conn, run_id, "expired", now=now)
    stop_waiting(conn, conversation.id, run_id)


class RunTimerHandler(_Base):
    """Wakes a run whose ``wait`` is over (job kind :data:`RUN_TIMER`)."""

    async def __call__(self, job: ClaimedJob) -> None:
        run_id = _text(job.payload, "run_id")
        turn = job.payload.get("turn")
        stored = await self._db.read(lambda conn: load_run(conn, run_id))
        if stored is None or stored.status != "waiting" or stored.turn != turn:
            log.info("run %s: timer for turn %s no longer due", run_id, turn)
            return
        workflow = await self._catalog.version(stored.version_id)
        conversation = await self._db.read(lambda conn: _conversation_of(conn, stored))
        if conversation is None:
            raise PermanentJobError(f"run {run_id} has no conversation")
        now = self._clock()
        values = await self._db.read(lambda conn: contact_values(conn, conversation.contact_number))
        inputs = TurnInputs(now, values, automated=True)
        resumed = await self._db.write(
            lambda conn: self._runner.resume(
                conn, stored, workflow, conversation, TimerFired(), inputs
            )
        )
        log.info("run %s: woken%s", run_id, "" if resumed else " already")


def _conversation_of(conn: Connection, run: StoredRun) -> Conversation | None:
    return by_id(conn, int(run.subject))
