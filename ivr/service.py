"""Voice turns: an incoming call starts a run, each action request resumes it.

One webhook is one turn: read the run, let the engine advance it, store the new state and the
TwiML answer in one transaction, return the answer. Incoming calls are idempotent on CallSid
(the calls table's key), turns on (run, turn number): a repeated webhook gets the stored answer
and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db import calls
from ivr.forms import CALL_STATUS_ORDER, FINAL_STATUSES, CallFields, parse_reply, status_rank
from ivr.outcome import decide_outcome
from ivr.twiml import WaitKind, apology, render
from workflows.catalog import WorkflowCatalog
from workflows.db import runs
from workflows.engine import Engine, EngineError, RunState
from workflows.runs import end_run, insert_run, load_run, save_turn
from workflows.steps.base import VOICE

log = logging.getLogger(__name__)

APOLOGY = "We are sorry, something went wrong. Please call again later. Goodbye."
NOT_IN_SERVICE = "We are sorry, this number is not in service. Goodbye."
CALL_INCOMING = "call.incoming"


def resume_prefix(base_url: str, run_id: str, turn: int) -> str:
    """Where the answer to turn ``turn`` of run ``run_id`` goes (``/gather`` etc. appended)."""
    return f"{base_url}/twilio/voice/runs/{run_id}/{turn}"


class VoiceService:
    """Runs voice turns against the database, the workflow catalog and the engine."""

    def __init__(self, db: AsyncEngine, catalog: WorkflowCatalog, engine: Engine) -> None:
        self._db = db
        self._catalog = catalog
        self._engine = engine

    async def incoming(self, call: CallFields, base_url: str) -> str:
        """Answer a new call with the first turn of the workflow its number triggers."""
        now = datetime.now(UTC)
        active = self._catalog.match(CALL_INCOMING, call.called)
        row = {
            "sid": call.sid,
            "account_sid": call.account_sid,
            "caller": call.caller,
            "called": call.called,
            "status": call.status if call.status in CALL_STATUS_ORDER else "ringing",
            "started_at": now,
        }
        try:
            if active is None:
                log.warning("call %s: no workflow takes calls to %s", call.sid, call.called)
                async with self._db.begin() as conn:
                    await conn.execute(calls.insert().values(**row))
                return apology(NOT_IN_SERVICE)
            run_id = secrets.token_hex(16)
            try:
                turn = self._engine.start(active.workflow, _call_vars(call))
            except EngineError as error:
                log.exception("call %s: workflow %s failed", call.sid, active.workflow.id)
                state, answer, failure = error.state, apology(APOLOGY), str(error)
            else:
                state, failure = turn.state, ""
                answer = render(
                    turn.instructions, resume_prefix(base_url, run_id, 1), finished=turn.finished
                )
            async with self._db.begin() as conn:
                await insert_run(
                    conn,
                    run_id=run_id,
                    version_id=active.version_id,
                    channel=VOICE,
                    subject=call.sid,
                    state=state,
                    response=answer,
                    error=failure or None,
                )
                await conn.execute(
                    calls.insert().values(run_id=run_id, workflow_id=active.workflow.id, **row)
                )
        except IntegrityError:
            return await self._replay_incoming(call.sid)
        log.info("call %s: started workflow %s run %s", call.sid, active.workflow.id, run_id)
        return answer

    async def _replay_incoming(self, call_sid: str) -> str:
        query = (
            select(runs.c.last_response)
            .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
            .where(calls.c.sid == call_sid)
        )
        async with self._db.connect() as conn:
            answer = (await conn.execute(query)).scalar()
        log.info("call %s: repeated incoming webhook answered from the stored turn", call_sid)
        return answer or apology(NOT_IN_SERVICE)

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
        stored = await load_run(self._db, run_id)
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
        try:
            result = self._engine.resume(
                workflow, RunState.from_json(stored.state), reply, _call_vars(call)
            )
        except EngineError as error:
            log.exception("call %s: workflow %s failed", call.sid, workflow.id)
            state, answer, failure = error.state, apology(APOLOGY), str(error)
        else:
            state, failure = result.state, ""
            answer = render(
                result.instructions,
                resume_prefix(base_url, run_id, turn_number + 1),
                finished=result.finished,
            )
        async with self._db.begin() as conn:
            saved = await save_turn(conn, run_id, turn_number, state, answer, failure or None)
        if not saved:
            again = await load_run(self._db, run_id)
            return (again.last_response if again else None) or apology(APOLOGY)
        return answer

    async def fail(self, call_sid: str | None, run_id: str | None, error: str) -> None:
        """Mark the run of a failed turn as failed, so the call log says so. Never raises."""
        try:
            async with self._db.begin() as conn:
                if run_id is None and call_sid is not None:
                    query = select(calls.c.run_id).where(calls.c.sid == call_sid)
                    run_id = (await conn.execute(query)).scalar()
                if run_id is not None:
                    await end_run(conn, run_id, "failed", error[:2000])
        except Exception:
            log.exception("call %s: could not mark run %s failed", call_sid, run_id)

    async def status(self, call: CallFields, duration: int | None) -> None:
        """Record a status callback. Statuses only move forward; the outcome is set once."""
        rank = status_rank(call.status)
        if rank < 0:
            log.warning("call %s: ignored unknown status %r", call.sid, call.status[:20])
            return
        earlier = CALL_STATUS_ORDER[: min(rank, 4)]
        async with self._db.begin() as conn:
            query = (
                select(calls.c.status, calls.c.run_id, runs.c.status, runs.c.state)
                .select_from(calls.outerjoin(runs, calls.c.run_id == runs.c.id))
                .where(calls.c.sid == call.sid)
            )
            row = (await conn.execute(query)).first()
            if row is None:
                log.info("call %s: status %s for a call never seen", call.sid, call.status)
                return
            values: dict[str, object] = {"status": call.status}
            if call.status in FINAL_STATUSES:
                facts = (row[3] or {}).get("facts", {})
                values.update(
                    outcome=decide_outcome(call.status, row[2], facts),
                    duration=duration,
                    ended_at=datetime.now(UTC),
                )
            result = await conn.execute(
                update(calls)
                .where(calls.c.sid == call.sid, calls.c.status.in_(earlier))
                .values(**values)
            )
            if result.rowcount and call.status in FINAL_STATUSES and row[1] is not None:
                await end_run(conn, row[1], "abandoned")


def _call_vars(call: CallFields) -> dict[str, str]:
    return {"sid": call.sid, "from": call.caller, "to": call.called}
