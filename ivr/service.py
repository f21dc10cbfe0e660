"""Voice turns: an incoming call starts a run, each action request resumes it.

One webhook is one turn: read the run, let the engine advance it, store the new state and the
TwiML answer in one transaction, return the answer. Incoming calls are idempotent on CallSid
(the calls table's key), turns on (run, turn number): a repeated webhook gets the stored answer
and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ivr.db import calls
from ivr.failures import close_failed_turn
from ivr.forms import CALL_STATUS_ORDER, FINAL_STATUSES, CallFields, parse_reply, status_rank
from ivr.media import Playback, with_media
from ivr.outcome import decide_outcome, outcome_event
from ivr.twiml import WaitKind, apology, render
from ringflow.clock import Clock
from ringflow.database import BatchConflict, Database
from workflows.catalog import ActiveWorkflow, WorkflowCatalog
from workflows.conditions import FilterContext
from workflows.contacts import contact_values, remember_numbers
from workflows.db import runs
from workflows.engine import Engine, EngineError, RunState
from workflows.instructions import Instruction, SendText
from workflows.jobs import enqueue
from workflows.loader import Workflow
from workflows.phones import InvalidPhoneNumber
from workflows.runs import (
    Effect,
    RunCache,
    StoredRun,
    TurnSave,
    end_run,
    insert_runs,
    load_run,
    new_run,
    new_run_id,
    next_turn,
    run_row,
    save_turns,
)
from workflows.schedules.values import ScheduleValues
from workflows.steps.base import VOICE
from workflows.triggers import CALL_EVENT_JOB, CALL_INCOMING

log = logging.getLogger(__name__)

APOLOGY = "We are sorry, something went wrong. Please call again later. Goodbye."
NOT_IN_SERVICE = "We are sorry, this number is not in service. Goodbye."

_NEW_CALLS = {
    "sqlite": sqlite.insert(calls).on_conflict_do_nothing(index_elements=["sid"]),
    "postgresql": postgresql.insert(calls).on_conflict_do_nothing(index_elements=["sid"]),
}
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


class TextQueue(Protocol):
    """Queues a text as durable work inside the caller's transaction (``sms.send_job``)."""

    def __call__(
        self, conn: Connection, *, to: str, from_: str, body: str, key: str, now: datetime
    ) -> object:
        """Record the text at ``now`` and enqueue its sending; nothing new for a ``key``
        already used."""
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
    known = set(conn.execute(select(calls.c.sid).where(calls.c.sid.in_(sids))).scalars())
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
    ended_at=bindparam("now"),
)


def _event_facts(
    row: Any, state: Mapping[str, Any], outcome: str, duration: int | None, now: datetime
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
        "ended_at": now.isoformat(),
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


def _record_status(
    conn: Connection,
    call: CallFields,
    duration: int | None,
    now: datetime,
    post_call: PostCall | None = None,
) -> str | None:
    """Apply a status callback; the run to close when the call just ended, else None.

    The final status decides the call's outcome, once; an outcome that raises an event
    (``call.missed``...) starts its workflow (its texts queued as jobs) in this same
    transaction, see :func:`_raise_event` and :meth:`VoiceService.status`.
    """
    rank = status_rank(call.status)
    row = conn.execute(_CALL_AND_RUN, {"sid": call.sid}).first()
    if row is None:
        log.info("call %s: status %s for a call never seen", call.sid, call.status)
        return None
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
        params.update(new_outcome=outcome, new_duration=duration, now=now)
    changed = conn.execute(_END_CALL if final else _MOVE_CALL, params).rowcount
    if not (changed and final):
        return None
    log.info("call %s: ended, outcome %s", call.sid, outcome)
    event = outcome_event(outcome)
    if event is not None:
        facts = _event_facts(row, state, outcome, duration, now)
        _raise_event(conn, post_call, event, facts, call.sid, now)
    if row.run_id is not None:
        end_run(conn, row.run_id, "abandoned", now=now)
        return str(row.run_id)
    return None


class VoiceService:
    """Runs voice turns against the database, the workflow catalog and the engine."""

    def __init__(
        self,
        db: Database,
        catalog: WorkflowCatalog,
        engine: Engine,
        texts: TextQueue,
        clock: Clock,
        events: Callable[[], None] | None = None,
        post_call: PostCall | None = None,
        playback: Playback | None = None,
        media_base: str = "",
    ) -> None:
        self._db = db
        self._post_call = post_call
        self._playback = playback
        self._media_base = media_base
        self._catalog = catalog
        self._engine = engine
        self._texts = texts
        self._clock = clock
        self._events = events
        self._runs = RunCache()
        self._plain: set[int] = set()
        """Versions that need neither the contact nor business hours."""
        self._closing: set[asyncio.Task[None]] = set()
        """Runs of failed turns being closed (see :meth:`fail`)."""

    async def _choose(
        self, call: CallFields, now: datetime
    ) -> tuple[ActiveWorkflow | None, Mapping[str, object] | None]:
        """The workflow that answers ``call`` (the first candidate whose ``when`` accepts it),
        and the caller's contact if it had to be read for that."""
        candidates = self._catalog.candidates(CALL_INCOMING, call.called)
        if all(active.check is None for active in candidates):
            # The common case: nothing to read.
            return (candidates[0] if candidates else None), None
        contact: Mapping[str, object] | None = None
        if any(self._catalog.reads_contact(active) for active in candidates):
            contact = await self._contact(call)
        ctx = FilterContext(
            now=now,
            channel=VOICE,
            called=call.called,
            contact=contact or {},
            schedules=self._catalog.schedules.view(),
        )
        chosen = next((active for active in candidates if active.accepts(ctx)), None)
        return chosen, contact

    async def _contact(self, call: CallFields) -> Mapping[str, object]:
        return await self._db.read(lambda conn: contact_values(conn, call.caller))

    async def _inputs(
        self,
        active: ActiveWorkflow,
        call: CallFields,
        now: datetime,
        contact: Mapping[str, object] | None = None,
    ) -> tuple[dict[str, Mapping[str, Any]], dict[str, Any]]:
        """The ``schedule`` and ``contact`` roots of a turn (each only when the workflow uses
        it) and the start facts (``after_hours``)."""
        roots: dict[str, Mapping[str, Any]] = {}
        facts: dict[str, Any] = {}
        if active.version_id in self._plain:
            return roots, facts  # the usual case, decided once per version
        reads_contact = self._catalog.reads_contact(active)
        spec = active.workflow.spec
        if not reads_contact and spec.hours is None:
            self._plain.add(active.version_id)
            return roots, facts
        if reads_contact:
            roots["contact"] = contact if contact is not None else await self._contact(call)
        if spec.hours is not None:
            schedules = self._catalog.schedules
            language = spec.defaults.language or "en"
            roots["schedule"] = ScheduleValues(schedules, spec.hours, now, language)
            facts["after_hours"] = not schedules.is_open(spec.hours, now)
        return roots, facts

    async def incoming(self, call: CallFields, base_url: str) -> str:
        """Answer a new call with the first turn of the workflow its number triggers."""
        now = self._clock()
        active, contact = await self._choose(call, now)
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
        if active is None:
            log.warning("call %s: no workflow takes calls to %s", call.sid, call.called)
            stored = await self._db.write_batched(start_calls, NewCall(row, None))
            return stored or apology(NOT_IN_SERVICE)
        run_id = new_run_id(now)
        failure: str | None = None
        effects: tuple[Effect, ...] = ()
        roots, facts = await self._inputs(active, call, now, contact)
        try:
            turn = self._engine.start(
                active.workflow, _call_vars(call), now=now, roots=roots, facts=facts
            )
        except EngineError as error:
            log.exception("call %s: workflow %s failed", call.sid, active.workflow.id)
            state, answer, failure = error.state, apology(APOLOGY), str(error)
        else:
            state = turn.state
            voice, effects = self._split(turn.instructions, call, f"{run_id}:0", now)
            voice = await self._playable(voice, call, active.workflow)
            answer = render(voice, resume_prefix(base_url, run_id, 1), finished=turn.finished)
        run = new_run(
            run_id=run_id,
            version_id=active.version_id,
            subject=call.sid,
            state=state,
            response=answer,
            error=failure,
        )
        row.update(run_id=run_id, workflow_id=active.workflow.id)
        new_call = NewCall(row, run, failure, effects if failure is None else ())
        stored = await self._db.write_batched(start_calls, new_call)
        if stored is not None:
            log.info("call %s: repeated incoming webhook answered from the stored turn", call.sid)
            return stored
        self._runs.put(run)
        log.info("call %s: started workflow %s run %s", call.sid, active.workflow.id, run_id)
        return answer

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
        stored = self._runs.get(run_id)
        if stored is None or stored.turn != turn_number:
            stored = await self._db.read(lambda conn: load_run(conn, run_id))
        if stored is None or stored.subject != call.sid:
            log.warning("call %s: action for unknown run %s", call.sid, run_id)
            return apology(APOLOGY)
        if turn_number != stored.turn or stored.status != "waiting":
            log.info(
                "call %s: turn %d repeated; answered from the stored turn", call.sid, turn_number
            )
            return stored.last_response or apology(APOLOGY)
        workflow = await self._catalog.version(stored.version_id)
        reply = parse_reply(wait, form)
        failure: str | None = None
        effects: tuple[Effect, ...] = ()
        now = self._clock()
        roots, _facts = await self._inputs(ActiveWorkflow(stored.version_id, workflow), call, now)
        try:
            result = self._engine.resume(
                workflow,
                RunState.from_json(stored.state),
                reply,
                _call_vars(call),
                now=now,
                roots=roots,
            )
        except EngineError as error:
            log.exception("call %s: workflow %s failed", call.sid, workflow.id)
            state, answer, failure = error.state, apology(APOLOGY), str(error)
        else:
            state = result.state
            voice, effects = self._split(result.instructions, call, f"{run_id}:{turn_number}", now)
            voice = await self._playable(voice, call, workflow)
            answer = render(
                voice, resume_prefix(base_url, run_id, turn_number + 1), finished=result.finished
            )
        updated = next_turn(stored, state, answer, failure)
        if await self._db.write_batched(save_turns, TurnSave(updated, now, failure, effects)):
            self._runs.put(updated)
            return answer
        # Another request (a repeat, or another instance) stored this turn first.
        self._runs.forget(run_id)
        again = await self._db.read(lambda conn: load_run(conn, run_id))
        return (again.last_response if again else None) or apology(APOLOGY)

    async def _playable(
        self, voice: tuple[Instruction, ...], call: CallFields, workflow: Workflow
    ) -> tuple[Instruction, ...]:
        """Prompt ids and server-spoken texts as audio URLs (``media_base`` + path)."""
        if self._playback is None or not self._catalog.uses_media(workflow):
            return voice
        playable: tuple[Instruction, ...] = await with_media(
            voice, self._playback, self._media_base, call.sid
        )
        return playable

    def _split(
        self,
        instructions: tuple[Instruction, ...],
        call: CallFields,
        turn_key: str,
        now: datetime,
    ) -> tuple[tuple[Instruction, ...], tuple[Effect, ...]]:
        """The turn's voice instructions, and its texts as effects for the turn's transaction.

        A text's key names the run, the turn and its place in the turn, so a repeated webhook
        (answered from the stored turn) never queues it again.
        """
        voice = tuple(i for i in instructions if not isinstance(i, SendText))
        texts = [i for i in instructions if isinstance(i, SendText)]
        effects = tuple(
            partial(self._queue_text, text, call, f"voice:{turn_key}:{index}", now)
            for index, text in enumerate(texts)
        )
        return voice, effects

    def _queue_text(
        self, text: SendText, call: CallFields, key: str, now: datetime, conn: Connection
    ) -> None:
        try:
            self._texts(conn, to=text.to, from_=call.called, body=text.body, key=key, now=now)
        except InvalidPhoneNumber as error:
            # An anonymous or malformed caller id: the call goes on without the text.
            log.warning("call %s: text not sent: %s", call.sid, error)

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
            self._runs.forget(run_id)
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
            self._runs.forget(closed)
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

    async def status(self, call: CallFields, duration: int | None) -> None:
        """Record a status callback. Statuses only move forward; the outcome is set once."""
        if status_rank(call.status) < 0:
            log.warning("call %s: ignored unknown status %r", call.sid, call.status[:20])
            return
        now = self._clock()
        try:
            closed = await self._db.write(
                lambda conn: _record_status(conn, call, duration, now, self._post_call)
            )
        except Exception:
            if self._post_call is None or call.status not in FINAL_STATUSES:
                raise
            # Starting the post-call workflow failed and took the whole write with it: store
            # the status and queue the event as a job instead (retried with backoff), so the
            # outcome is kept and no text is lost. (No savepoint: this path is rare, and two
            # statements per call are not.)
            log.exception("call %s: post-call workflow not started now; queued", call.sid)
            closed = await self._db.write(
                lambda conn: _record_status(conn, call, duration, now, None)
            )
        if closed is not None:
            self._runs.forget(closed)
        if call.status in FINAL_STATUSES and self._events is not None:
            self._events()  # a post-call text may be queued: send it now, not at next poll


def _recording_url(facts: Mapping[str, Any]) -> str | None:
    """The URL of the call's first recording (a voicemail), or None."""
    for recording in facts.get("recordings", ()):
        if isinstance(recording, Mapping) and recording.get("url"):
            return str(recording["url"])
    return None


def _call_vars(call: CallFields) -> dict[str, str]:
    return {"sid": call.sid, "from": call.caller, "to": call.called}
