"""The jobs that run workflows on the SMS channel.

``call.event`` (queued with a call's final status, see :mod:`ivr.service`): picks the one
workflow the event starts (``call.missed``, ``call.ended`` or ``call.after_hours``; its
``to`` numbers and ``when`` filter decide) and starts it for the caller, unless this event
was handled before or the workflow's per-recipient limit (``once_per``) holds it back.

``sms.inbound`` (queued with an inbound text that is not a compliance keyword, see
:mod:`sms.routes`): a run waiting for this contact's reply (an SMS menu) takes the text;
otherwise it starts the ``sms.received`` workflow the text matches, if any.

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
from sms.conversations import Conversation, by_id, find, stop_waiting, touch
from sms.runner import RUN_TIMER, MessageRunner, TurnInputs
from workflows.catalog import ActiveWorkflow, WorkflowCatalog
from workflows.conditions import FilterContext
from workflows.contacts import get_contact, lock_contact
from workflows.events import DigitsReceived, TimerFired
from workflows.firings import fire, started
from workflows.jobs import ClaimedJob, PermanentJobError
from workflows.phones import InvalidPhoneNumber, normalize_number
from workflows.runs import StoredRun, end_run, load_run
from workflows.steps.base import SMS
from workflows.triggers import CALL_EVENT_JOB, SMS_RECEIVED

__all__ = [
    "CALL_EVENT",
    "RUN_TIMER",
    "SMS_INBOUND",
    "CallEventHandler",
    "InboundTextHandler",
    "RunTimerHandler",
]

log = logging.getLogger(__name__)

CALL_EVENT: Final = CALL_EVENT_JOB
SMS_INBOUND: Final = "sms.inbound"
"""Payload ``{"sid", "from", "to", "body"}`` of a text received; dedupe key ``inbound:<sid>``."""
_KEYS = re.compile(r"^[0-9*#]{1,8}$")


def _contact_values(conn: Connection, number: str) -> dict[str, object]:
    contact = get_contact(conn, number)
    return {} if contact is None else contact.values()


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
        contact: str,
        call: Mapping[str, Any],
        inputs: TurnInputs,
    ) -> str:
        """Start ``active`` unless this event fired before or the limit holds it back."""
        locked = lock_contact(conn, contact)
        firing = fire(
            conn,
            event_key=event_key,
            workflow_id=active.workflow.id,
            contact=locked.number,
            now=inputs.now,
            once_per=active.trigger.limit_seconds,
        )
        if firing != "new":
            return firing
        conversation = touch(conn, business, locked.number, inputs.now)
        fresh = TurnInputs(inputs.now, locked.values(), inputs.automated, inputs.message)
        run = self._runner.start(conn, active, conversation, call, fresh)
        started(conn, event_key, run.id, failed=run.status == "failed")
        return "started"


class CallEventHandler(_Base):
    """Runs the workflow of a call's outcome event (job kind :data:`CALL_EVENT`)."""

    async def __call__(self, job: ClaimedJob) -> None:
        event = _text(job.payload, "event")
        facts = job.payload.get("facts")
        if not isinstance(facts, dict):
            raise PermanentJobError("payload has no facts")
        business, caller = _text(facts, "to"), _text(facts, "from")
        try:
            contact = normalize_number(caller)
        except InvalidPhoneNumber:
            log.info("call %s: %s, but the caller has no number to text", facts.get("sid"), event)
            return
        now = self._clock()
        values = await self._db.read(lambda conn: _contact_values(conn, contact))
        ctx = FilterContext(
            now=now,
            channel=SMS,
            called=business,
            contact=values,
            outcome=facts.get("outcome"),
            duration=facts.get("duration"),
            schedules=self._catalog.schedules.view(),
        )
        active = self._catalog.match(event, business, ctx)
        if active is None:
            log.debug("call %s: no workflow for %s", facts.get("sid"), event)
            return
        inputs = TurnInputs(now, values, automated=True)
        result = await self._db.write(
            lambda conn: self._start(conn, active, job.dedupe_key, business, contact, facts, inputs)
        )
        log.info(
            "call %s: %s -> workflow %s: %s", facts.get("sid"), event, active.workflow.id, result
        )


class InboundTextHandler(_Base):
    """Hands a received text to the run waiting for it, or to an ``sms.received`` workflow
    (job kind :data:`SMS_INBOUND`)."""

    async def __call__(self, job: ClaimedJob) -> None:
        sid = _text(job.payload, "sid")
        sender, business, body = (_text(job.payload, k) for k in ("from", "to", "body"))
        now = self._clock()
        conversation = await self._db.read(lambda conn: find(conn, business, sender))
        waiting = conversation.waiting(now) if conversation is not None else None
        if conversation is not None and waiting is not None:
            if await self._answer(job, conversation, waiting, body, now):
                return
        elif conversation is not None and conversation.waiting_run_id is not None:
            expired = conversation.waiting_run_id
            log.info("conversation %d: run %s waited too long", conversation.id, expired)
            await self._db.write(lambda conn: _expire(conn, conversation, expired))
        await self._start_received(job, sid, sender, business, body, now)

    async def _answer(
        self, job: ClaimedJob, conversation: Conversation, run_id: str, body: str, now: datetime
    ) -> bool:
        """Resume run ``run_id`` with the text; False if it no longer waits for one."""
        stored = await self._db.read(lambda conn: load_run(conn, run_id))
        if stored is None or stored.status != "waiting":
            return False
        workflow = await self._catalog.version(stored.version_id)
        values = await self._db.read(
            lambda conn: _contact_values(conn, conversation.contact_number)
        )
        message = {"body": body, "sid": job.payload.get("sid")}
        inputs = TurnInputs(now, values, automated=False, message=message)
        stripped = body.strip()
        reply = DigitsReceived(digits=stripped if _KEYS.match(stripped) else "", speech=body)

        def work(conn: Connection) -> str:
            # The text's own firing row: a second attempt of this job changes nothing.
            if (
                fire(
                    conn,
                    event_key=job.dedupe_key,
                    workflow_id=workflow.id,
                    contact=conversation.contact_number,
                    now=now,
                    once_per=0,
                )
                == "repeat"
            ):
                return "repeat"
            touch(conn, conversation.business_number, conversation.contact_number, now)
            resumed = self._runner.resume(conn, stored, workflow, conversation, reply, inputs)
            return "answered" if resumed else "stale"

        result = await self._db.write(work)
        log.info("conversation %d: reply to run %s: %s", conversation.id, run_id, result)
        return True

    async def _start_received(
        self, job: ClaimedJob, sid: str, sender: str, business: str, body: str, now: datetime
    ) -> None:
        values = await self._db.read(lambda conn: _contact_values(conn, sender))
        ctx = FilterContext(
            now=now,
            channel=SMS,
            called=business,
            text=body,
            contact=values,
            schedules=self._catalog.schedules.view(),
        )
        active = self._catalog.match(SMS_RECEIVED, business, ctx)
        if active is None:
            log.info("message %s: no sms.received workflow takes it", sid)
            return
        message = {"body": body, "sid": sid}
        inputs = TurnInputs(now, values, automated=False, message=message)
        call = {"from": sender, "to": business}
        result = await self._db.write(
            lambda conn: self._start(conn, active, job.dedupe_key, business, sender, call, inputs)
        )
        log.info("message %s: workflow %s: %s", sid, active.workflow.id, result)


def _expire(conn: Connection, conversation: Conversation, run_id: str) -> None:
    end_run(conn, run_id, "expired")
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
        values = await self._db.read(
            lambda conn: _contact_values(conn, conversation.contact_number)
        )
        inputs = TurnInputs(now, values, automated=True)
        resumed = await self._db.write(
            lambda conn: self._runner.resume(
                conn, stored, workflow, conversation, TimerFired(), inputs
            )
        )
        log.info("run %s: woken%s", run_id, "" if resumed else " already")


def _conversation_of(conn: Connection, run: StoredRun) -> Conversation | None:
    return by_id(conn, int(run.subject))
