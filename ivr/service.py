"""Voice turns: an incoming call starts a run, each action request resumes it.

One webhook is one turn: read the run, let the engine advance it, store the new state and the
TwiML answer in one transaction, return the answer. Incoming calls are idempotent on CallSid
(the calls table's key), turns on (run, turn number): a repeated webhook gets the stored answer
and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ivr.db import calls
from ivr.forms import CALL_STATUS_ORDER, FINAL_STATUSES, CallFields, parse_reply, status_rank
from ivr.outcome import decide_outcome
from ivr.twiml import WaitKind, apology, render
from ringflow.database import BatchConflict, Database
from workflows.catalog import WorkflowCatalog
from workflows.db import runs
from workflows.engine import Engine, EngineError, RunState
from workflows.instructions import Instruction, SendText
from workflows.phones import InvalidPhoneNumber
from workflows.runs import (
    Effect,
    RunCache,
    RunIds,
    StoredRun,
    TurnSave,
    end_run,
    insert_runs,
    load_run,
    new_run,
    next_turn,
    run_row,
    save_turns,
)
from workflows.steps.base import VOICE

log = logging.getLogger(__name__)

APOLOGY = "We are sorry, something went wrong. Please call again later. Goodbye."
NOT_IN_SERVICE = "We are sorry, this number is not in service. Goodbye."
CALL_INCOMING = "call.incoming"

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


class TextQueue(Protocol):
    """Queues a text as durable work inside the caller's transaction (``sms.send_job``)."""

    def __call__(self, conn: Connection, *, to: str, from_: str, body: str, key: str) -> object:
        """Record the text and enqueue its sending; nothing new for a ``key`` already used."""
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
        insert_runs(conn, [run_row(c.run, VOICE, c.error) for c in fresh if c.run is not None])
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


def _record_status(
    conn: Connection, call: CallFields, duration: int | None, now: datetime
) -> str | None:
    """Apply a status callback; the run to close when the call just ended, else None."""
    rank = status_rank(call.status)
    query = (
        select(calls.c.run_id, runs.c.status, runs.c.state)
        .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
        .where(calls.c.sid == call.sid)
    )
    row = conn.execute(query).first()
    if row is None:
        log.info("call %s: status %s for a call never seen", call.sid, call.status)
        return None
    values: dict[str, object] = {"status": call.status}
    final = call.status in FINAL_STATUSES
    if final:
        facts = (row.state or {}).get("facts", {})
        values.update(
            outcome=decide_outcome(call.status, row.status, facts),
            duration=duration,
            ended_at=now,
        )
    # Statuses only move forward: one a call already passed (or a second final one) is ignored.
    earlier = CALL_STATUS_ORDER[: min(rank, 4)]
    changed = conn.execute(
        update(calls).where(calls.c.sid == call.sid, calls.c.status.in_(earlier)).values(**values)
    ).rowcount
    if changed and final and row.run_id is not None:
        end_run(conn, row.run_id, "abandoned")
        return str(row.run_id)
    return None


class VoiceService:
    """Runs voice turns against the database, the workflow catalog and the engine."""

    def __init__(
        self, db: Database, catalog: WorkflowCatalog, engine: Engine, texts: TextQueue
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._engine = engine
        self._texts = texts
        self._runs = RunCache()
        self._run_ids = RunIds()

    async def incoming(self, call: CallFields, base_url: str) -> str:
        """Answer a new call with the first turn of the workflow its number triggers."""
        active = self._catalog.match(CALL_INCOMING, call.called)
        row = {
            "sid": call.sid,
            "account_sid": call.account_sid,
            "caller": call.caller,
            "called": call.called,
            "status": call.status if call.status in CALL_STATUS_ORDER else "ringing",
            "started_at": datetime.now(UTC),
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
        run_id = self._run_ids.new()
        failure: str | None = None
        effects: tuple[Effect, ...] = ()
        try:
            turn = self._engine.start(active.workflow, _call_vars(call))
        except EngineError as error:
            log.exception("call %s: workflow %s failed", call.sid, active.workflow.id)
            state, answer, failure = error.state, apology(APOLOGY), str(error)
        else:
            state = turn.state
            voice, effects = self._split(turn.instructions, call, f"{run_id}:0")
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
        try:
            result = self._engine.resume(
                workflow, RunState.from_json(stored.state), reply, _call_vars(call)
            )
        except EngineError as error:
            log.exception("call %s: workflow %s failed", call.sid, workflow.id)
            state, answer, failure = error.state, apology(APOLOGY), str(error)
        else:
            state = result.state
            voice, effects = self._split(result.instructions, call, f"{run_id}:{turn_number}")
            answer = render(
                voice, resume_prefix(base_url, run_id, turn_number + 1), finished=result.finished
            )
        updated = next_turn(stored, state, answer, failure)
        if await self._db.write_batched(save_turns, TurnSave(updated, failure, effects)):
            self._runs.put(updated)
            return answer
        # Another request (a repeat, or another instance) stored this turn first.
        self._runs.forget(run_id)
        again = await self._db.read(lambda conn: load_run(conn, run_id))
        return (again.last_response if again else None) or apology(APOLOGY)

    def _split(
        self, instructions: tuple[Instruction, ...], call: CallFields, turn_key: str
    ) -> tuple[tuple[Instruction, ...], tuple[Effect, ...]]:
        """The turn's voice instructions, and its texts as effects for the turn's transaction.

        A text's key names the run, the turn and its place in the turn, so a repeated webhook
        (answered from the stored turn) never queues it again.
        """
        voice = tuple(i for i in instructions if not isinstance(i, SendText))
        texts = [i for i in instructions if isinstance(i, SendText)]
        effects = tuple(
            partial(self._queue_text, text, call, f"voice:{turn_key}:{index}")
            for index, text in enumerate(texts)
        )
        return voice, effects

    def _queue_text(self, text: SendText, call: CallFields, key: str, conn: Connection) -> None:
        try:
            self._texts(conn, to=text.to, from_=call.called, body=text.body, key=key)
        except InvalidPhoneNumber as error:
            # An anonymous or malformed caller id: the call goes on without the text.
            log.warning("call %s: text not sent: %s", call.sid, error)

    async def fail(self, call_sid: str | None, run_id: str | None, error: str) -> None:
        """Mark the run of a failed turn as failed, so the call log says so. Never raises."""

        def mark(conn: Connection) -> None:
            found = run_id
            if found is None and call_sid is not None:
                found = conn.execute(select(calls.c.run_id).where(calls.c.sid == call_sid)).scalar()
            if found is not None:
                end_run(conn, found, "failed", error[:2000])

        if run_id is not None:
            self._runs.forget(run_id)
        try:
            await self._db.write(mark)
        except Exception:
            log.exception("call %s: could not mark run %s failed", call_sid, run_id)

    async def status(self, call: CallFields, duration: int | None) -> None:
        """Record a status callback. Statuses only move forward; the outcome is set once."""
        if status_rank(call.status) < 0:
            log.warning("call %s: ignored unknown status %r", call.sid, call.status[:20])
            return
        now = datetime.now(UTC)
        closed = await self._db.write(lambda conn: _record_status(conn, call, duration, now))
        if closed is not None:
            self._runs.forget(closed)


def _call_vars(call: CallFields) -> dict[str, str]:
    return {"sid": call.sid, "from": call.caller, "to": call.called}
