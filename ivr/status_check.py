"""Calls whose final status callback never came: asked of Twilio, then ended as if it had.

Twilio tells Ringflow that a call ended with one status callback. Should that request be lost
(this server down or restarting as the call ended, an instance killed mid-request behind the
proxy, a 5xx the webhook's retry policy does not repeat), the call would stay open in the log
for ever: no outcome, no ``call.ended`` webhook, no missed-call text.

So the process that runs the job worker also runs a :class:`StatusSweep`: every
``SWEEP_EVERY`` it looks for Twilio calls still without an outcome
``RINGFLOW_CALL_STATUS_CHECK_MINUTES`` after they started (and started less than
``LOOK_BACK`` ago), and queues a ``call.status_check`` job for each, once per call (dedupe key
``call-status-check:{CallSid}``, in the sweep's transaction). The job
(:class:`StatusCheckHandler`) reads the call from Twilio's Calls API
(``GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``, the call's own account) and:

* **final there** (completed, busy, no-answer, failed, canceled): records that status, the
  duration and Twilio's end time through the status callback's own path
  (:func:`ivr.service.record_status`), so the outcome is decided once and the post-call event
  is queued as a job. A status callback that arrived meanwhile has decided it already, and
  one that arrives later changes nothing;
* **still going on**: looks again as much later (deferred: not a failed attempt), and gives
  up (dead, for an admin) once the call would be longer than Twilio allows (24 h);
* **unknown to Twilio** (404): dead, for an admin (wrong account credentials?);
* Twilio unreachable, 5xx or 429: retried with backoff.

Only Twilio's call ids are looked up (``CA...``): not the PBX's calls (``ami-...``, Asterisk
reports every hang-up) nor the console's test calls (``CAtest...``, no Twilio call behind
them). Nothing runs without a Twilio account (SID and auth token) configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, and_, exists, literal, select

from ivr.db import calls
from ivr.forms import FINAL_STATUSES, CallFields
from ivr.offers import CallGone, TwilioCalls
from ivr.service import record_status
from ringflow.clock import Clock
from ringflow.database import Database, stored_time
from workflows.jobs import ClaimedJob, FinalWrite, JobDeferred, PermanentJobError, enqueue, jobs
from workflows.jobs.queue import utc
from workflows.sessions import SessionService
from workflows.test_calls import TEST_CALL_PREFIX

log = logging.getLogger(__name__)

CALL_STATUS_CHECK: Final = "call.status_check"
"""The job kind: look a call up in Twilio's Calls API and end it if it is over."""

SWEEP_EVERY: Final = timedelta(minutes=1)
"""How often the sweep looks for calls to check."""

SWEEP_BATCH: Final = 200
"""Calls queued for a check by one sweep at most (the next sweep takes the rest)."""

LOOK_BACK: Final = timedelta(days=2)
"""Calls that started longer ago are left alone (a first start after a long outage does not
send post-call texts about calls days old)."""

LONGEST_CALL: Final = timedelta(hours=24, minutes=30)
"""Twilio ends every call after 24 hours at most (``timeLimit``); one still going on after
this is a problem for a person, not a wait."""

_KEY_PREFIX: Final = "call-status-check:"


def check_key(call_sid: str) -> str:
    """The dedupe key of the check of ``call_sid``: one per call, ever."""
    return _KEY_PREFIX + call_sid


def queue_checks(conn: Connection, now: datetime, check_after: timedelta) -> list[str]:
    """Queue a check of each Twilio call started between ``LOOK_BACK`` and ``check_after``
    ago that has no outcome and no check yet (at most ``SWEEP_BATCH``, oldest first); their
    CallSids."""
    checked = exists().where(
        jobs.c.dedupe_key == literal(_KEY_PREFIX, jobs.c.dedupe_key.type).concat(calls.c.sid)
    )
    lost = (
        select(calls.c.sid)
        .where(
            and_(
                calls.c.outcome.is_(None),
                calls.c.started_at < utc(now - check_after),
                calls.c.started_at > utc(now - LOOK_BACK),
                calls.c.sid.startswith("CA", autoescape=True),
                ~calls.c.sid.startswith(TEST_CALL_PREFIX, autoescape=True),
                ~checked,
            )
        )
        .order_by(calls.c.started_at)
        .limit(SWEEP_BATCH)
    )
    sids = [str(sid) for sid in conn.execute(lost).scalars()]
    for sid in sids:
        enqueue(conn, CALL_STATUS_CHECK, {"call": sid}, dedupe_key=check_key(sid), now=now)
    return sids


class StatusCheckHandler:
    """Runs ``call.status_check`` jobs (see the module docstring); ``ended(outcome)`` is told
    of each call a check ended (metrics, as for a status callback)."""

    def __init__(
        self,
        db: Database,
        twilio: TwilioCalls | None,
        sessions: SessionService,
        clock: Clock,
        *,
        check_after: timedelta,
        ended: Callable[[str], None] | None = None,
    ) -> None:
        self._db = db
        self._twilio = twilio
        self._sessions = sessions
        self._clock = clock
        self._check_after = check_after
        self._ended = ended

    async def __call__(self, job: ClaimedJob) -> FinalWrite | None:
        sid = str(job.payload["call"])
        query = select(
            calls.c.caller, calls.c.called, calls.c.account_sid, calls.c.outcome, calls.c.started_at
        ).where(calls.c.sid == sid)
        row = await self._db.read(lambda conn: conn.execute(query).first())
        if row is None or row.outcome is not None:
            return None  # its status callback came after all (or the call was deleted)
        if self._twilio is None:
            raise PermanentJobError("no Twilio account configured to look the call up with")
        try:
            found = await self._twilio.fetch(sid, row.account_sid)
        except CallGone as error:
            raise PermanentJobError(f"Twilio does not know this call: {error}") from error
        now = self._clock()
        if found.status not in FINAL_STATUSES:
            if now - stored_time(row.started_at) > LONGEST_CALL:
                raise PermanentJobError(
                    f"Twilio still says {found.status[:20]!r} over {LONGEST_CALL} after it started"
                )
            raise JobDeferred(now + self._check_after, f"still {found.status[:20]} at Twilio")
        log.warning(
            "call %s: its final status callback never came; Twilio says %s", sid, found.status
        )
        call = CallFields(
            sid=sid,
            caller=row.caller,
            called=row.called,
            account_sid=row.account_sid,
            status=found.status,
        )
        ended_at = found.ended_at if found.ended_at is not None else now
        # The post-call event is queued as a job (no post-call starter here): retried with
        # backoff like any job, and sent by this worker.
        closed, outcome = await self._db.write(
            lambda conn: record_status(conn, call, found.duration, now, None, ended_at=ended_at)
        )
        if closed is not None:
            self._sessions.forget(closed)
        if outcome is not None and self._ended is not None:
            self._ended(outcome)
        return None


class StatusSweep:
    """Queues the checks of calls whose final status is late, every ``SWEEP_EVERY``, until
    stopped; ``queued()`` is called after a sweep queued any (to wake the worker)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        check_after: timedelta,
        queued: Callable[[], None] = lambda: None,
        every: timedelta = SWEEP_EVERY,
    ) -> None:
        self._db = db
        self._clock = clock
        self._check_after = check_after
        self._queued = queued
        self._every = every
        self._stop = asyncio.Event()

    async def sweep(self) -> list[str]:
        """Queue the checks due now (see :func:`queue_checks`); their CallSids."""
        now = self._clock()
        sids = await self._db.write(lambda conn: queue_checks(conn, now, self._check_after))
        if sids:
            log.info("%d calls without a final status: looking them up at Twilio", len(sids))
            self._queued()
        return sids

    async def run_until_stopped(self) -> None:
        """Sweep now and every ``SWEEP_EVERY`` until :meth:`stop`; a failed sweep is logged
        and the next one tries again."""
        while not self._stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("looking for calls without a final status failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._every.total_seconds()):
                    await self._stop.wait()

    def stop(self) -> None:
        """End :meth:`run_until_stopped` (a sweep under way finishes first)."""
        self._stop.set()
