"""Workflows on the SMS channel: start a run, resume it, and turn each turn into texts.

The channel adapter for text conversations, used by the jobs of :mod:`sms.workflow_jobs`
(post-call events, inbound texts, timers). Everything here runs inside the caller's write
transaction: the run's new state, its texts (:func:`sms.send_job.queue_text`), its timer (a
``run.timer`` job) and its conversation's waiting pointer are stored together or not at all.

Keys make every effect happen once: a text is keyed ``run:<run>:<turn>:<n>``, a timer
``timer:<run>:<turn>``; a turn is saved only if the run still expects it.

*Automated* turns (started by a post-call event, or woken by a timer) respect the quiet
hours of the workflow's ``hours`` schedule: their texts are due when the quiet hours end, and
carry the schedule's name so that the send job checks the quiet hours again when they leave.
Turns that answer the contact's own text go out at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection

from sms.conversations import Conversation, set_waiting, stop_waiting
from sms.render import plan_turn
from sms.send_job import queue_text
from workflows.catalog import ActiveWorkflow, WorkflowCatalog
from workflows.engine import Engine, EngineError, RunState, Turn
from workflows.events import Reply
from workflows.jobs import enqueue
from workflows.loader import Workflow
from workflows.phones import InvalidPhoneNumber
from workflows.runs import (
    StoredRun,
    TurnSave,
    insert_runs,
    new_run,
    new_run_id,
    next_turn,
    run_row,
    save_turns,
)
from workflows.schedules.values import ScheduleValues
from workflows.steps.base import SMS

log = logging.getLogger(__name__)

RUN_TIMER: Final = "run.timer"
"""The job kind that wakes a run waiting in a ``wait`` step; payload ``{"run_id", "turn"}``."""


@dataclass(frozen=True, slots=True)
class TurnInputs:
    """What a turn can read besides the run's own state."""

    now: datetime
    contact: Mapping[str, Any]
    automated: bool
    message: Mapping[str, Any] | None = None


class MessageRunner:
    """Starts and resumes runs on the SMS channel inside a write transaction."""

    def __init__(self, engine: Engine, catalog: WorkflowCatalog) -> None:
        self._engine = engine
        self._catalog = catalog

    def roots(self, workflow: Workflow, inputs: TurnInputs) -> dict[str, Mapping[str, Any]]:
        """The ``contact``, ``schedule`` and ``message`` values of a turn."""
        values: dict[str, Mapping[str, Any]] = {"contact": inputs.contact}
        hours = workflow.spec.hours
        if hours is not None:
            language = workflow.spec.defaults.language or "en"
            # Words about the next opening are read when the text arrives: after quiet hours.
            read_at = self._quiet_until(workflow, inputs)
            values["schedule"] = ScheduleValues(
                self._catalog.schedules, hours, inputs.now, language, read_at
            )
        if inputs.message is not None:
            values["message"] = inputs.message
        return values

    def start(
        self,
        conn: Connection,
        active: ActiveWorkflow,
        conversation: Conversation,
        call: Mapping[str, Any],
        inputs: TurnInputs,
        run_id: str | None = None,
    ) -> StoredRun:
        """Start ``active`` for ``conversation`` as run ``run_id`` (default: a new id);
        ``call`` becomes ``{{call.*}}`` (its ``from`` is the contact, ``to`` our number) for
        every turn of the run."""
        workflow = active.workflow
        run_id = run_id or new_run_id(inputs.now)
        failure: str | None = None
        try:
            turn = self._engine.start(
                workflow,
                call,
                now=inputs.now,
                roots=self.roots(workflow, inputs),
                facts={"call": dict(call)},
            )
        except EngineError as error:
            log.exception("conversation %d: workflow %s failed", conversation.id, workflow.id)
            turn, failure = Turn(error.state, ()), str(error)
        run = new_run(
            run_id=run_id,
            version_id=active.version_id,
            subject=str(conversation.id),
            state=turn.state,
            response="",
            error=failure,
        )
        insert_runs(conn, [run_row(run, SMS, failure, now=inputs.now)])
        self._apply(conn, run, 0, turn, conversation, workflow, inputs)
        log.info(
            "conversation %d: started workflow %s run %s", conversation.id, workflow.id, run_id
        )
        return run

    def resume(
        self,
        conn: Connection,
        stored: StoredRun,
        workflow: Workflow,
        conversation: Conversation,
        reply: Reply,
        inputs: TurnInputs,
    ) -> bool:
        """Resume ``stored`` with ``reply``; False when the run no longer expects this turn
        (another worker, or an earlier attempt of this job, already took it)."""
        state = RunState.from_json(stored.state)
        call = state.facts.get("call", {})
        failure: str | None = None
        try:
            turn = self._engine.resume(
                workflow, state, reply, call, now=inputs.now, roots=self.roots(workflow, inputs)
            )
        except EngineError as error:
            log.exception("conversation %d: workflow %s failed", conversation.id, workflow.id)
            turn, failure = Turn(error.state, ()), str(error)
        updated = next_turn(stored, turn.state, "", failure)
        if not save_turns(conn, [TurnSave(updated, inputs.now, failure)])[0]:
            return False
        self._apply(conn, updated, stored.turn, turn, conversation, workflow, inputs)
        return True

    def _apply(
        self,
        conn: Connection,
        run: StoredRun,
        turn_number: int,
        turn: Turn,
        conversation: Conversation,
        workflow: Workflow,
        inputs: TurnInputs,
    ) -> None:
        plan = plan_turn(turn.instructions)
        due = self._quiet_until(workflow, inputs)
        # The send job checks these quiet hours again when the text leaves (a retry or a
        # backlog may come due at night); texts answering the contact are not held.
        hours = workflow.spec.hours if inputs.automated else None
        contact, business = conversation.contact_number, conversation.business_number
        for index, text in enumerate(plan.texts):
            try:
                queue_text(
                    conn,
                    to=text.to or contact,
                    from_=business,
                    body=text.body,
                    key=f"run:{run.id}:{turn_number}:{index}",
                    due_at=due,
                    hours=hours,
                    now=inputs.now,
                )
            except InvalidPhoneNumber as error:
                log.warning("run %s: text not sent: %s", run.id, error)
        if plan.wake_at is not None and run.status == "waiting":
            enqueue(
                conn,
                RUN_TIMER,
                {"run_id": run.id, "turn": run.turn},
                dedupe_key=f"timer:{run.id}:{turn_number}",
                due_at=plan.wake_at,
                now=inputs.now,
            )
        if plan.awaits_reply and run.status == "waiting":
            set_waiting(conn, conversation.id, run.id, inputs.now)
        elif conversation.waiting_run_id == run.id:
            stop_waiting(conn, conversation.id, run.id)
        if due is not None and plan.texts:
            log.info("run %s: quiet hours, texts held until %s", run.id, due.isoformat())

    def _quiet_until(self, workflow: Workflow, inputs: TurnInputs) -> datetime | None:
        hours = workflow.spec.hours
        if not inputs.automated or hours is None:
            return None
        return self._catalog.schedules.quiet_until(hours, inputs.now)
