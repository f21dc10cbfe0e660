"""Voice turns: an incoming call starts a run, each action request resumes it.

One webhook is one turn: the adapter parses it into an event (``CallStarted``, ``CallReplied``)
for the session service (:mod:`workflows.sessions`), which picks the workflow or resumes the
run and hands the turn's instructions back for this module to word as TwiML; the new state
and the TwiML answer are stored in one transaction (a new call's row with its run, here).
Incoming calls are idempotent on CallSid (the calls table's key), turns on (run, turn
number): a repeated webhook gets the stored answer and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ivr.calllog import kept_recordings
from ivr.db import calls
from ivr.failures import close_failed_turn
from ivr.forms import (
    CALL_STATUS_ORDER,
    FINAL_STATUSES,
    OFFERED,
    CallFields,
    parse_reply,
    status_rank,
)
from ivr.media import Playback, with_media
from ivr.outcome import decide_outcome, outcome_event
from ivr.twiml import WaitKind, apology, render
from ringflow.clock import Clock
from ringflow.database import BatchConflict, Database
from workflows.catalog import WorkflowCatalog
from workflows.contacts import remember_numbers
from workflows.db import runs
from workflows.events import CallReplied, CallStarted, DialFinished, QueueLeft, Reply
from workflows.instructions import Instruction
from workflows.jobs import enqueue
from workflows.loader import Workflow
from workflows.people.presence import agent_of_call, call_ended
from workflows.people.queue import caller_gone, left_choice
from workflows.runs import (
    Effect,
    StoredRun,
    end_run,
    insert_runs,
    run_row,
)
from workflows.sessions import SessionService
from workflows.steps.base import VOICE
from workflows.test_calls import TestCallVersions, is_test_call
from workflows.triggers import CALL_EVENT_JOB
from workflows.webhooks import publish

log = logging.getLogger(__name__)

APOLOGY = "We are sorry, something went wrong. Please call again later. Goodbye."
NOT_IN_SERVICE = "We are sorry, this number is not in service. Goodbye."

_NEW_CALLS = {
    "sqlite": sqlite.insert(calls).on_conflict_do_nothing(index_elements=["sid"]),
    "postgresql": postgresql.insert(calls).on_conflict_do_nothing(index_elements=["sid"]),
}
# Built once: compiling the query anew for every batch of calls (its IN list a new clause
# each time) was a tenth of the writer thread's time per incoming call (profiled).
_KNOWN_CALLS = select(calls.c.sid).where(calls.c.sid.in_(bindparam("sids", expanding=True)))
_STORED_ANSWERS = (
    select(calls.c.sid, runs.c.last_response)
    .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
    .where(calls.c.sid.in_(bindparam("sids", expanding=True)))
)


def resume_prefix(base_url: str, run_id: str, turn: int) -> str:
    """Where the answer to turn ``turn`` of run ``run_id`` goes (``/gather`` etc. appended)."""
    return f"{base_url}/twilio/voice/runs/{run_id}/{turn}"


class PostCall(Protocol):
    """Starts the workflow of a call's outcome event inside the caller's transaction
    (``sms.workflow_jobs.CallEventHandler.handle_in``)."""

    def __call__(
        self,
        conn: Connection,
        event: str,
        facts: Mapping[str, Any],
        event_key: str,
        now: datetime,
    ) -> str:
        """Start it (or not: a limit, no workflow); what happened, in words."""
        ...


@dataclass(frozen=True, slots=True)
class NewCall:
    """A call to store with the run its workflow started (None: no workflow took it), and
    ``effects`` for the same transaction (texts the first turn queued)."""

    row: dict[str, Any]
    run: StoredRun | None
    error: str | None = None
    effects: tuple[Effect, ...] = ()


def start_calls(conn: Connection, new: list[NewCall]) -> list[str | None]:
    """Store new calls and their runs, all at once; per call None, or for a call already
    stored (a repeated webhook) the answer stored for it."""
    sids = [call.row["sid"] for call in new]
    known = set(conn.execute(_KNOWN_CALLS, {"sids": sids}).scalars())
    fresh: list[NewCall] = []
    for call in new:
        if call.row["sid"] not in known:
            known.add(call.row["sid"])
            fresh.append(call)
    if fresh:
        rows = [c.row for c in fresh]
        inserted = conn.execute(_NEW_CALLS[conn.dialect.name], rows if len(rows) > 1 else rows[0])
        if inserted.rowcount != len(fresh):
            # Another writer (another instance) stored the call since the check above.
            if len(new) > 1:
                raise BatchConflict(f"{len(fresh) - inserted.rowcount} calls stored meanwhile")
            fresh = []
        insert_runs(
            conn,
            [
                run_row(c.run, VOICE, c.error, now=c.row["started_at"])
                for c in fresh
                if c.run is not None
            ],
        )
        if fresh:  # empty when another instance stored this very call at the same moment
            remember_numbers(conn, [c.row["caller"] for c in fresh], now=fresh[0].row["started_at"])
        for call in fresh:
            for effect in call.effects:
                effect(conn)
    if len(fresh) == len(new):
        return [None] * len(new)
    stored = dict(list(conn.execute(_STORED_ANSWERS, {"sids": sids})))
    fresh_ids = {id(call) for call in fresh}
    return [
        None if id(call) in fresh_ids else stored.get(call.row["sid"]) or apology(NOT_IN_SERVICE)
        for call in new
    ]


# Built once: every status callback runs them.
_CALL_AND_RUN = (
    select(
        calls.c.sid,
        calls.c.caller,
        calls.c.called,
        calls.c.started_at,
        calls.c.workflow_id,
        calls.c.run_id,
        runs.c.status,
        runs.c.state,
    )
    .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
    .where(calls.c.sid == bindparam("sid"))
)
_MOVE_CALL = (
    update(calls)
    .where(
        calls.c.sid == bindparam("call_sid"),
        calls.c.status.in_(bindparam("earlier", expanding=True)),
    )
    .values(status=bindparam("new_status"))
)
_END_CALL = _MOVE_CALL.values(
    outcome=bindparam("new_outcome"),
    duration=bindparam("new_duration"),
    ended_at=bindparam("ended_at"),
)


def _event_facts(
    row: Any, state: Mapping[str, Any], outcome: str, duration: int | None, ended_at: datetime
) -> dict[str, Any]:
    """What a post-call event tells the workflows it starts (``{{call.*}}``), as JSON."""
    facts = state.get("facts", {})
    return {
        "sid": row.sid,
        "from": row.caller,
        "to": row.called,
        "outcome": outcome,
        "duration": duration or 0,
        "workflow": row.workflow_id,
        "path": list(state.get("path", [])),
        "keys": list(state.get("keys", [])),
        "agent": facts.get("agent"),
        "voicemail": _recording_url(facts),
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "ended_at": ended_at.isoformat(),
    }


def _raise_event(
    conn: Connection,
    post_call: PostCall | None,
    event: str,
    facts: dict[str, Any],
    call_sid: str,
    now: datetime,
) -> None:
    """Start the event's workflow in this transaction, or (``post_call`` None) queue it as a
    job, retried with backoff."""
    key = f"call-event:{call_sid}"
    if post_call is not None:
        result = post_call(conn, event, facts, key, now)
        log.info("call %s: %s: %s", call_sid, event, result)
        return
    enqueue(conn, CALL_EVENT_JOB, {"event": event, "facts": facts}, dedupe_key=key, now=now)


def record_status(
    conn: Connection,
    call: CallFields,
    duration: int | None,
    now: datetime,
    post_call: PostCall | None = None,
    *,
    ended_at: datetime | None = None,
) -> tuple[str | None, str | None]:
    """Apply a status callback; the run to close when the call just ended, else None, and
    the outcome when this callback decided it.

    The final status decides the call's outcome, once; an outcome that raises an event
    (``call.missed``...) starts its workflow (its texts queued as jobs) in this same
    transaction, see :func:`_raise_event` and :meth:`VoiceService.status`. ``ended_at``:
    when the call ended, if not ``now`` (a final status learnt later, :mod:`ivr.status_check`).
    """
    ended = now if ended_at is None else ended_at
    rank = status_rank(call.status)
    row = conn.execute(_CALL_AND_RUN, {"sid": call.sid}).first()
    if row is None:
        log.info("call %s: status %s for a call never seen", call.sid, call.status)
        return None, None
    final = call.status in FINAL_STATUSES
    state: Mapping[str, Any] = row.state or {}
    # Statuses only move forward: one a call already passed (or a second final one) is ignored.
    params: dict[str, object] = {
        "call_sid": call.sid,
        "new_status": call.status,
        "earlier": CALL_STATUS_ORDER[: min(rank, 4)],
    }
    outcome = ""
    if final:
        outcome = decide_outcome(call.status, row.status, state.get("facts", {}))
        params.update(new_outcome=outcome, new_duration=duration, ended_at=ended)
    changed = conn.execute(_END_CALL if final else _MOVE_CALL, params).rowcount
    if not (changed and final):
        return None, None
    if caller_gone(conn, call.sid, now):
        log.info("call %s: hung up in the hold queue", call.sid)
    # The legs end now, as the queue entry leaves now: the jobs they queue (serving the
    # queue after wrap-up) are due from now, not backdated to a call end learnt late.
    if call_ended(conn, call.sid, now):
        log.info("call %s: ended before its agent's leg said so; the agent is free", call.sid)
    log.info("call %s: ended, outcome %s", call.sid, outcome)
    if is_test_call(call.sid):
        # A test call reaches no one: no call.ended webhook, no post-call workflow.
        log.info("test call %s: no post-call event raised", call.sid)
        return _end_call_run(conn, row.run_id, now), outcome
    publish(
        conn,
        "call.ended",
        lambda: {
            "sid": call.sid,
            "from": row.caller,
            "to": row.called,
            "status": call.status,
            "outcome": outcome,
            "duration": duration or 0,
            "workflow": row.workflow_id,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "ended_at": ended.isoformat(),
        },
        now,
    )
    event = outcome_event(outcome)
    if event is not None:
        facts = _event_facts(row, state, outcome, duration, ended)
        _raise_event(conn, post_call, event, facts, call.sid, now)
    return _end_call_run(conn, row.run_id, now), outcome


def _end_call_run(conn: Connection, run_id: object, now: datetime) -> str | None:
    """End the run of a call that just ended, if it still waits; its id (None: no run)."""
    if run_id is None:
        return None
    end_run(conn, str(run_id), "abandoned", now=now)
    return str(run_id)


class _TwimlAnswers:
    """Words a call's turns as TwiML for the session service (see :class:`CallAnswers`)."""

    __slots__ = ("_base_url", "_call_sid", "_service")

    def __init__(self, service: VoiceService, call_sid: str, base_url: str) -> None:
        self._service = service
        self._call_sid = call_sid
        self._base_url = base_url

    async def answer(
        self,
        instructions: tuple[Instruction, ...],
        workflow: Workflow,
        *,
        run_id: str,
        next_turn: int,
        finished: bool,
    ) -> str:
        playable = await self._service.playable(instructions, self._call_sid, workflow)
        prefix = resume_prefix(self._base_url, run_id, next_turn)
        return render(playable, prefix, finished=finished, base_url=self._base_url)

    def apology(self) -> str:
        return apology(APOLOGY)


class VoiceService:
    """The voice adapter: turns webhooks into session events and instructions into TwiML;
    stores the calls (their rows, statuses and outcomes)."""

    def __init__(
        self,
        db: Database,
        catalog: WorkflowCatalog,
        sessions: SessionService,
        clock: Clock,
        events: Callable[[], None] | None = None,
        post_call: PostCall | None = None,
        playback: Playback | None = None,
        media_base: str = "",
        tests: TestCallVersions | None = None,
    ) -> None:
        self._db = db
        self._tests = tests
        self._post_call = post_call
        self._playback = playback
        self._media_base = media_base
        self._catalog = catalog
        self._sessions = sessions
        self._clock = clock
        self._events = events
        self._closing: set[asyncio.Task[None]] = set()
        """Runs of failed turns being closed (see :meth:`fail`)."""

    @property
    def sessions(self) -> SessionService:
        """The session service this channel hands its events to."""
        return self._sessions

    async def incoming(self, call: CallFields, base_url: str) -> str:
        """Answer a new call with the first turn of the workflow its number triggers."""
        now = self._clock()
        version_id: int | None = None
        if is_test_call(call.sid):
            version_id = self._tests.version_of(call.sid) if self._tests is not None else None
            if version_id is None:
                log.warning("call %s: a test call no console placed here; not answered", call.sid)
                return apology(NOT_IN_SERVICE)
            log.info("call %s: test call of workflow version %d", call.sid, version_id)
        event = CallStarted(call_id=call.sid, caller=call.caller, called=call.called, at=now)
        opening = await self._sessions.call_started(
            event, _TwimlAnswers(self, call.sid, base_url), version_id=version_id
        )
        row = {
            "sid": call.sid,
            "account_sid": call.account_sid,
            "caller": call.caller,
            "called": call.called,
            "status": call.status if call.status in CALL_STATUS_ORDER else "ringing",
            "started_at": now,
            "run_id": None,
            "workflow_id": None,
            "outcome": None,
            "duration": None,
            "ended_at": None,
        }
        run = opening.run
        if run is None:
            log.warning("call %s: no workflow takes calls to %s", call.sid, call.called)
            stored = await self._db.write_batched(start_calls, NewCall(row, None))
            return stored or apology(NOT_IN_SERVICE)
        row.update(run_id=run.id, workflow_id=opening.workflow_id)
        new_call = NewCall(row, run, opening.error, opening.effects)
        stored = await self._db.write_batched(start_calls, new_call)
        if stored is not None:
            log.info("call %s: repeated incoming webhook answered from the stored turn", call.sid)
            return stored
        self._sessions.remember(run)
        log.info("call %s: started workflow %s run %s", call.sid, opening.workflow_id, run.id)
        return opening.answer

    async def turn(
        self,
        run_id: str,
        turn_number: int,
        wait: WaitKind,
        call: CallFields,
        form: dict[str, str],
        base_url: str,
    ) -> str:
        """Resume run ``run_id`` with the reply to turn ``turn_number``."""
        if wait == "queue" and _redirected_out(form):
            # The Calls API took the caller out of the queue to ring an agent: the redirect's
            # own request resumes the run (same turn); this one must not end it first.
            log.info("call %s: left the queue by a redirect", call.sid)
            return EMPTY_TWIML
        reply = await self._with_agent(parse_reply(wait, form), call.sid, form)
        event = CallReplied(
            call_id=call.sid,
            caller=call.caller,
            called=call.called,
            run_id=run_id,
            turn=turn_number,
            reply=reply,
        )
        return await self._sessions.call_replied(event, _TwimlAnswers(self, call.sid, base_url))

    async def _with_agent(self, reply: Reply, call_sid: str, form: Mapping[str, str]) -> Reply:
        """A ``connect`` step's reply with what only the database knows: the agent who
        answered (their leg reported it), or why a caller left the hold queue."""
        if isinstance(reply, DialFinished) and reply.rung and reply.status == "answered":
            leg = form.get("DialCallSid") or None
            agent = await self._db.read(lambda conn: agent_of_call(conn, call_sid, leg))
            return replace(reply, answered_by=agent)
        if isinstance(reply, QueueLeft) and reply.result == "left":
            choice = await self._db.read(lambda conn: left_choice(conn, call_sid))
            return replace(reply, choice=choice)
        return reply

    async def playable(
        self, voice: tuple[Instruction, ...], call_sid: str, workflow: Workflow
    ) -> tuple[Instruction, ...]:
        """Prompt ids and server-spoken texts as audio URLs (``media_base`` + path)."""
        if self._playback is None or not self._catalog.uses_media(workflow):
            return voice
        playable: tuple[Instruction, ...] = await with_media(
            voice, self._playback, self._media_base, call_sid
        )
        return playable

    async def fail(
        self, call_sid: str, run_id: str | None, turn: int, error: str, *, wait: float
    ) -> None:
        """Close the run of a turn that failed or missed its deadline, and was answered with
        the apology, as failed (see ``ivr/failures.py``): the call log says so, and a repeat
        of the webhook gets the apology. ``turn`` is the turn's number (0: the incoming
        call); ``run_id`` None: the call's run.

        The write runs in the background, owned by this service until :meth:`close`, since
        the database may be what held the turn up; this waits for it at most ``wait``
        seconds. Never raises."""
        if run_id is not None:
            self._sessions.forget(run_id)
        now = self._clock()

        def close_run(conn: Connection) -> str | None:
            return close_failed_turn(
                conn,
                call_sid=call_sid,
                run_id=run_id,
                turn=turn,
                error=error,
                answer=apology(APOLOGY),
                now=now,
            )

        task = asyncio.create_task(self._close_run(call_sid, close_run), name="close-run")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        if wait > 0:
            await asyncio.wait({task}, timeout=wait)

    async def _close_run(self, call_sid: str, close: Callable[[Connection], str | None]) -> None:
        try:
            closed = await self._db.write(close)
        except Exception:
            log.exception("call %s: could not mark its run failed", call_sid)
            return
        if closed is not None:
            self._sessions.forget(closed)
            log.info("call %s: run %s closed as failed", call_sid, closed)

    async def close(self, grace: float) -> None:
        """Let the runs of failed turns be closed (at most ``grace`` seconds), then stop."""
        pending = set(self._closing)
        if pending:
            _done, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def status(self, call: CallFields, duration: int | None) -> str | None:
        """Record a status callback. Statuses only move forward; the outcome is set once.
        The outcome, when this callback decided it."""
        if status_rank(call.status) < 0:
            log.warning("call %s: ignored unknown status %r", call.sid, call.status[:20])
            return None
        now = self._clock()
        try:
            closed, outcome = await self._db.write(
                lambda conn: record_status(conn, call, duration, now, self._post_call)
            )
        except Exception:
            if self._post_call is None or call.status not in FINAL_STATUSES:
                raise
            # Starting the post-call workflow failed and took the whole write with it: store
            # the status and queue the event as a job instead (retried with backoff), so the
            # outcome is kept and no text is lost. (No savepoint: this path is rare, and two
            # statements per call are not.)
            log.exception("call %s: post-call workflow not started now; queued", call.sid)
            closed, outcome = await self._db.write(
                lambda conn: record_status(conn, call, duration, now, None)
            )
        if closed is not None:
            self._sessions.forget(closed)
        if call.status in FINAL_STATUSES and self._events is not None:
            self._events()  # a post-call text may be queued: send it now, not at next poll
        return outcome


EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def _redirected_out(form: Mapping[str, str]) -> bool:
    """Whether an ``<Enqueue>`` action reports the caller redirected out of the queue (by
    the Calls API), rather than the redirect itself (which names the agent offered)."""
    return form.get("QueueResult", "").strip().lower() == "redirected" and not form.get(OFFERED)


def _recording_url(facts: Mapping[str, Any]) -> str | None:
    """The URL of the call's first recording (a voicemail), or None."""
    kept = kept_recordings(facts)
    return kept[0].url if kept else None
