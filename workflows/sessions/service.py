"""The session service: the one way into the core for every channel.

A channel adapter parses its wire input into an event (:mod:`workflows.events`) and hands it
here. The service picks the workflow the event starts (its trigger, called number and
``when``) or the run it resumes, builds the facts the turn reads (contact, schedule values,
the filter context, call facts), runs the engine, persists the run and hands the turn's
neutral instructions back to the channel, which words them (voice: a call document; texts:
messages).

Calls are request/response (:meth:`SessionService.call_started`, :meth:`call_replied`): one
webhook is one turn, idempotent on (run, turn), the answer stored with the run. Conversations
are asynchronous (:meth:`start_in`, :meth:`reply_in`, :meth:`timer_fired`): everything runs
inside one write transaction, the run's turn, its firing row (:mod:`workflows.firings`) and
its channel's durable work stored together or not at all, with the survey answers the turn
gave (``RecordRating``, kept against the conversation by :mod:`workflows.conversations.ratings`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection

from ringflow.clock import Clock
from ringflow.database import Database
from workflows.callbacks.requests import request_callback_in
from workflows.catalog import ActiveWorkflow, WorkflowCatalog, compile_trigger
from workflows.contacts import ContactRow, contact_values, lock_contact
from workflows.conversations import ratings
from workflows.conversations.automation import AutomationRefused, act
from workflows.conversations.channels import ConversationChannels, Hold
from workflows.conversations.model import NamedConversation
from workflows.engine import Engine, EngineError, RunState, Turn
from workflows.events import (
    CallEnded,
    CallReplied,
    CallStarted,
    ConversationEvent,
    DigitsReceived,
    ExternalEvent,
    Reply,
    StartingEvent,
    TextReceived,
    TimerFired,
)
from workflows.firings import failed, fire
from workflows.instructions import (
    ChangeConversation,
    Instruction,
    RecordRating,
    RequestCallback,
    SendText,
)
from workflows.jobs import PermanentJobError
from workflows.knowledge import Knowledge, KnowledgeBase
from workflows.loader import Workflow
from workflows.phones import InvalidPhoneNumber
from workflows.runs import (
    Effect,
    RunCache,
    StoredRun,
    TurnSave,
    insert_runs,
    load_run,
    new_run,
    new_run_id,
    next_turn,
    run_row,
    save_turns,
)
from workflows.sessions.channels import CallAnswers, ConversationChannel, TextQueue, TurnDone
from workflows.sessions.facts import Facts
from workflows.sessions.fetches import queue_fetch
from workflows.sessions.routing import route_call
from workflows.steps.base import VOICE
from workflows.test_calls import is_test_call
from workflows.triggers import CALL_INCOMING, MESSAGE_RECEIVED

log = logging.getLogger(__name__)

S = TypeVar("S")
_KEYS = re.compile(r"^[0-9*#]{1,8}$")


@dataclass(frozen=True, slots=True)
class CallOpening:
    """What the first turn of a call produced, for the channel to store with its call.

    ``run`` None: no workflow takes the call. ``effects`` (texts the turn queued) belong to
    the transaction that stores the run; ``error`` when the first turn failed (``answer`` is
    then the channel's apology).
    """

    run: StoredRun | None
    workflow_id: str | None = None
    answer: str = ""
    error: str | None = None
    effects: tuple[Effect, ...] = ()


class SessionService:
    """Turns events into runs and instructions, for every channel."""

    def __init__(
        self,
        db: Database,
        catalog: WorkflowCatalog,
        engine: Engine,
        clock: Clock,
        *,
        texts: TextQueue | None = None,
        conversations: ConversationChannels | None = None,
    ) -> None:
        self._db = db
        self._conversations = conversations or ConversationChannels()
        self._catalog = catalog
        self._engine = engine
        self._clock = clock
        self._texts = texts
        self._facts = Facts(catalog)
        self._runs = RunCache()
        self._reads_knowledge: dict[int, bool] = {}

    # --- calls: one webhook, one turn ------------------------------------------------------

    async def call_started(
        self, event: CallStarted, answers: CallAnswers, *, version_id: int | None = None
    ) -> CallOpening:
        """The first turn of the workflow ``event`` starts, not stored yet: the channel stores
        it with its call (one transaction), then tells :meth:`remember`.

        ``version_id`` runs that workflow version (a test call's, any version or draft)
        instead of the workflow the called number triggers."""
        now = event.at
        if version_id is None:
            active, contact = await self._answering(event, now)
        else:
            active = ActiveWorkflow(version_id, await self._catalog.version(version_id))
            contact = None
        if active is None:
            return CallOpening(None)
        run_id = new_run_id(now)
        failure: str | None = None
        effects: tuple[Effect, ...] = ()
        roots, facts = await self._call_inputs(active, event.caller, now, contact)
        try:
            turn = await self._call_turn(
                active,
                lambda knowledge: self._engine.start(
                    active.workflow,
                    _call_vars(event),
                    now=now,
                    roots=roots,
                    facts=facts,
                    schedules=self._catalog.schedules.view(),
                    knowledge=knowledge,
                ),
            )
        except EngineError as error:
            log.exception("call %s: workflow %s failed", event.call_id, active.workflow.id)
            state, answer, failure = error.state, answers.apology(), str(error)
        else:
            state = turn.state
            spoken, effects = self._split(turn.instructions, event, f"{run_id}:0", now)
            spoken = await route_call(
                self._db, spoken, call=event.call_id, run_id=run_id, turn=1, now=now
            )
            answer = await answers.answer(
                spoken, active.workflow, run_id=run_id, next_turn=1, finished=turn.finished
            )
        run = new_run(
            run_id=run_id,
            version_id=active.version_id,
            subject=event.call_id,
            state=state,
            response=answer,
            error=failure,
        )
        return CallOpening(
            run, active.workflow.id, answer, failure, effects if failure is None else ()
        )

    def remember(self, run: StoredRun) -> None:
        """``run`` was just stored: its next turn need not read it back."""
        self._runs.put(run)

    def forget(self, run_id: str) -> None:
        """``run_id`` may have changed elsewhere: read it from the database next time."""
        self._runs.forget(run_id)

    async def call_replied(self, event: CallReplied, answers: CallAnswers) -> str:
        """Resume the run ``event`` answers, store its turn and return the channel's answer;
        a repeated or late turn gets the answer stored for it."""
        run_id, turn_number = event.run_id, event.turn
        stored = self._runs.get(run_id)
        if stored is None or stored.turn != turn_number:
            stored = await self._db.read(lambda conn: load_run(conn, run_id))
        if stored is None or stored.subject != event.call_id:
            log.warning("call %s: action for unknown run %s", event.call_id, run_id)
            return answers.apology()
        if turn_number != stored.turn or stored.status != "waiting":
            log.info(
                "call %s: turn %d repeated; answered from the stored turn",
                event.call_id,
                turn_number,
            )
            return stored.last_response or answers.apology()
        workflow = await self._catalog.version(stored.version_id)
        failure: str | None = None
        effects: tuple[Effect, ...] = ()
        now = self._clock()
        active = ActiveWorkflow(stored.version_id, workflow)
        roots, _facts = await self._call_inputs(active, event.caller, now)
        try:
            result = await self._call_turn(
                active,
                lambda knowledge: self._engine.resume(
                    workflow,
                    RunState.from_json(stored.state),
                    event.reply,
                    _call_vars(event),
                    now=now,
                    roots=roots,
                    schedules=self._catalog.schedules.view(),
                    knowledge=knowledge,
                ),
            )
        except EngineError as error:
            log.exception("call %s: workflow %s failed", event.call_id, workflow.id)
            state, answer, failure = error.state, answers.apology(), str(error)
        else:
            state = result.state
            key = f"{run_id}:{turn_number}"
            spoken, effects = self._split(result.instructions, event, key, now)
            spoken = await route_call(
                self._db,
                spoken,
                call=event.call_id,
                run_id=run_id,
                turn=turn_number + 1,
                now=now,
            )
            answer = await answers.answer(
                spoken,
                workflow,
                run_id=run_id,
                next_turn=turn_number + 1,
                finished=result.finished,
            )
        updated = next_turn(stored, state, answer, failure)
        if await self._db.write_batched(save_turns, TurnSave(updated, now, failure, effects)):
            self._runs.put(updated)
            return answer
        # Another request (a repeat, or another instance) stored this turn first.
        self._runs.forget(run_id)
        again = await self._db.read(lambda conn: load_run(conn, run_id))
        return (again.last_response if again else None) or answers.apology()

    async def _call_turn(
        self, active: ActiveWorkflow, work: Callable[[KnowledgeBase | None], Turn]
    ) -> Turn:
        """Run a call's turn (``work``): on a read connection when the workflow searches the
        knowledge base (an ``answer`` step), else with no database at all (the usual case)."""
        reads = self._reads_knowledge.get(active.version_id)
        if reads is None:
            spec = active.workflow.spec
            reads = any(spec.step(name).kind.reads_knowledge for name in spec.steps)
            self._reads_knowledge[active.version_id] = reads
        if not reads:
            return work(None)
        return await self._db.read(lambda conn: work(Knowledge(conn)))

    async def _answering(
        self, event: CallStarted, now: datetime
    ) -> tuple[ActiveWorkflow | None, Mapping[str, object] | None]:
        """The workflow that answers the call (the first candidate whose ``when`` accepts
        it), and the caller's contact if it had to be read for that."""
        candidates = self._catalog.candidates(CALL_INCOMING, event.called)
        if all(active.check is None for active in candidates):
            # The common case: nothing to read.
            return (candidates[0] if candidates else None), None
        contact: Mapping[str, object] | None = None
        if any(self._facts.reads_contact(active) for active in candidates):
            contact = await self._contact(event.caller)
        ctx = self._facts.call_context(VOICE, event.called, contact or {}, now)
        chosen = next((active for active in candidates if active.accepts(ctx)), None)
        return chosen, contact

    async def _contact(self, number: str) -> Mapping[str, object]:
        return await self._db.read(lambda conn: contact_values(conn, number))

    async def _call_inputs(
        self,
        active: ActiveWorkflow,
        caller: str,
        now: datetime,
        contact: Mapping[str, object] | None = None,
    ) -> tuple[dict[str, Mapping[str, Any]], dict[str, Any]]:
        """The roots of a call's turn (``contact`` only when the workflow reads it) and the
        start facts (``after_hours``)."""
        if self._facts.is_plain(active):
            return {}, {}  # the usual case, decided once per version
        if self._facts.reads_contact(active) and contact is None:
            contact = await self._contact(caller)
        elif not self._facts.reads_contact(active):
            contact = None
        workflow = active.workflow
        return self._facts.roots(workflow, now, contact=contact), self._facts.after_hours(
            workflow, now
        )

    def _split(
        self,
        instructions: tuple[Instruction, ...],
        call: CallStarted | CallReplied,
        turn_key: str,
        now: datetime,
    ) -> tuple[tuple[Instruction, ...], tuple[Effect, ...]]:
        """The turn's instructions for the call, and its texts as effects for the turn's
        transaction.

        A text's key names the run, the turn and its place in the turn, so a repeated webhook
        (answered from the stored turn) never queues it again.
        """
        spoken = tuple(i for i in instructions if not isinstance(i, SendText | RequestCallback))
        if is_test_call(call.call_id):
            for instruction in instructions:
                if isinstance(instruction, SendText | RequestCallback):
                    # A test call reaches no one: what it would send is only logged.
                    log.info("test call %s: %s not sent", call.call_id, _unsent(instruction))
            return spoken, ()
        texts = [i for i in instructions if isinstance(i, SendText)]
        effects: tuple[Effect, ...] = tuple(
            partial(self._queue_text, text, call, f"voice:{turn_key}:{index}", now)
            for index, text in enumerate(texts)
        )
        effects += tuple(
            partial(
                request_callback_in,
                request=request,
                call_sid=call.call_id,
                customer=call.caller,
                our_number=call.called,
                now=now,
            )
            for request in instructions
            if isinstance(request, RequestCallback)
        )
        return spoken, effects

    def _queue_text(
        self,
        text: SendText,
        call: CallStarted | CallReplied,
        key: str,
        now: datetime,
        conn: Connection,
    ) -> None:
        if self._texts is None:
            log.warning("call %s: text not sent: no text queue", call.call_id)
            return
        try:
            self._texts(
                conn,
                to=text.to,
                from_=text.sender or call.called,
                body=text.body,
                key=key,
                now=now,
            )
        except InvalidPhoneNumber as error:
            # An anonymous or malformed caller id: the call goes on without the text.
            log.warning("call %s: text not sent: %s", call.call_id, error)

    # --- conversations: inside the caller's write transaction ------------------------------

    async def handle(self, event: StartingEvent, channel: ConversationChannel[S]) -> str:
        """:meth:`start_in` in a transaction of its own; what happened, in words."""
        now = self._clock()
        return await self._db.write(lambda conn: self.start_in(conn, event, channel, now))

    def start_in(
        self,
        conn: Connection,
        event: StartingEvent,
        channel: ConversationChannel[S],
        now: datetime,
        *,
        locked: ContactRow | None = None,
        version_id: int | None = None,
        read: NamedConversation | None = None,
    ) -> str:
        """Start the workflow ``event`` calls for, in ``channel``'s conversation with the
        contact, in the caller's transaction; what happened, in words.

        ``locked``: the contact, already locked by the caller (else it is locked here, and
        created on first contact). ``read``: a conversation event's conversation as the
        caller has just read it in this transaction, unchanged since (else it is read
        here). Nothing starts when the event fired before or the
        workflow's per-contact limit (``once_per``) holds it back; the limit counts from
        when the event happened, not from when a worker got to it. ``version_id`` offers
        the event to that workflow version only (a test conversation's, any version or
        draft), whatever the numbers it names; its ``when`` still decides.
        """
        business, number = _parties(event)
        if locked is None:
            try:
                locked = lock_contact(conn, number, now=now)
            except InvalidPhoneNumber:
                return "the caller has no number to text"
        values = locked.values()
        trigger = _trigger(event, channel.channel)
        ctx = self._facts.event_context(event, channel.channel, business, values, now)
        if isinstance(event, ConversationEvent):
            ctx = self._facts.with_conversation(conn, ctx, event.conversation_id, read)
        if version_id is None:
            active = self._match(trigger, business, ctx, event)
        else:
            active = self._chosen(conn, version_id, trigger, ctx)
        if active is None:
            if isinstance(event, TextReceived):
                fire(
                    conn,
                    event_key=event.key,
                    workflow_id=None,
                    contact=locked.number,
                    now=now,
                    status="ignored",
                )
                return f"no {trigger} workflow takes it"
            return "no workflow takes it"
        happened_at = (event.at if isinstance(event, CallEnded | ExternalEvent) else None) or now
        run_id = new_run_id(now)
        firing = fire(
            conn,
            event_key=event.key,
            workflow_id=active.workflow.id,
            contact=locked.number,
            now=happened_at,
            once_per=active.trigger.limit_seconds,
            run_id=run_id,
        )
        if firing != "new":
            return f"workflow {active.workflow.id}: {firing}"
        if isinstance(event, ConversationEvent):
            found = (
                channel.of_conversation(read.conversation)
                if read is not None
                else channel.by_id(conn, event.conversation_id)
            )
            if found is None:
                return f"conversation {event.conversation_id} is gone"
            conversation = found
        else:
            conversation = channel.open(conn, business, locked.number, now)
        call = _call_facts(event, number, business)
        # A conversation event's filter read the conversation's state: the run's roots are the
        # same (nothing changed it since, in this transaction), so it is not read again.
        state = ctx.conversation if isinstance(event, ConversationEvent) else None
        run = self._start_run(
            conn,
            active,
            channel,
            conversation,
            call,
            now,
            values,
            _message(event),
            run_id,
            _event_root(event),
            state,
        )
        if run.status == "failed":
            failed(conn, event.key)
        return f"workflow {active.workflow.id}: started"

    def _match(
        self, trigger: str, business: str, ctx: Any, event: StartingEvent
    ) -> ActiveWorkflow | None:
        """The workflow ``event`` starts: the catalog's choice, or for an event meant for one
        workflow (a timer it set), that workflow if it still takes the event."""
        wanted = event.workflow_id if isinstance(event, ConversationEvent | ExternalEvent) else None
        if wanted is None:
            return self._catalog.match(trigger, business, ctx)
        for active in self._catalog.candidates(trigger, business):
            if active.workflow.id == wanted and active.accepts(ctx):
                return active
        return None

    def _chosen(
        self, conn: Connection, version_id: int, trigger: str, ctx: Any
    ) -> ActiveWorkflow | None:
        """Workflow version ``version_id`` if it starts on ``trigger`` and its ``when``
        takes the event."""
        workflow = self._catalog.version_in(conn, version_id)
        if workflow.spec.trigger.event != trigger:
            return None
        check = compile_trigger(workflow, self._catalog.schedules.names)
        active = ActiveWorkflow(version_id, workflow, check)
        return active if active.accepts(ctx) else None

    def reply_in(
        self,
        conn: Connection,
        event: TextReceived,
        run_id: str,
        locked: ContactRow,
        channel: ConversationChannel[S],
        conversation: S,
        now: datetime,
    ) -> str | None:
        """Hand ``event`` to run ``run_id``, which waits for the contact's reply; None when
        it no longer waits (the text may then start a workflow)."""
        stored = load_run(conn, run_id)
        if stored is None or stored.status != "waiting":
            return None
        workflow = self._catalog.version_in(conn, stored.version_id)
        fire(
            conn,
            event_key=event.key,
            workflow_id=workflow.id,
            contact=locked.number,
            now=now,
            status="reply",
        )
        stripped = event.body.strip()
        reply = DigitsReceived(digits=stripped if _KEYS.match(stripped) else "", speech=event.body)
        self._resume(
            conn,
            stored,
            workflow,
            channel,
            conversation,
            reply,
            now,
            locked.values(),
            message=_message(event),
        )
        waiting_at = stored.state.get("cursor")
        return f"answers step {waiting_at} of workflow {workflow.id} (run {run_id})"

    async def timer_fired(self, run_id: str, turn: object, channel: ConversationChannel[S]) -> None:
        """Wake run ``run_id`` whose ``wait`` for turn ``turn`` is over (a durable timer);
        nothing when the run moved on since."""
        await self.wake(run_id, turn, TimerFired(), channel)

    async def wake(
        self, run_id: str, turn: object, reply: Reply, channel: ConversationChannel[S]
    ) -> None:
        """Resume run ``run_id``, waiting at turn ``turn`` for durable work (a timer, an HTTP
        request), with ``reply``; nothing when the run moved on since."""
        stored = await self._db.read(lambda conn: load_run(conn, run_id))
        if stored is None or stored.status != "waiting" or stored.turn != turn:
            log.info("run %s: turn %s no longer waits for this", run_id, turn)
            return
        workflow = await self._catalog.version(stored.version_id)
        conversation = await self._db.read(lambda conn: channel.of_run(conn, stored))
        if conversation is None:
            raise PermanentJobError(f"run {run_id} has no conversation")
        now = self._clock()
        number = channel.contact(conversation)
        values = await self._db.read(lambda conn: contact_values(conn, number))
        resumed = await self._db.write(
            lambda conn: self._resume(
                conn, stored, workflow, channel, conversation, reply, now, values
            )
        )
        log.info("run %s: woken%s", run_id, "" if resumed else " already")

    def _start_run(
        self,
        conn: Connection,
        active: ActiveWorkflow,
        channel: ConversationChannel[S],
        conversation: S,
        call: Mapping[str, Any],
        now: datetime,
        contact: Mapping[str, Any],
        message: Mapping[str, Any] | None,
        run_id: str,
        event_root: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> StoredRun:
        """Start ``active`` in ``conversation`` as run ``run_id``; ``call`` becomes
        ``{{call.*}}`` (its ``from`` is the contact, ``to`` our number) for every turn.
        ``state``: the conversation's state (``{{conversation.*}}``) when the caller has just
        read it in this transaction; read here otherwise."""
        workflow = active.workflow
        subject = channel.subject(conversation)
        automated = message is None
        failure: str | None = None
        try:
            turn = self._engine.start(
                workflow,
                call,
                now=now,
                roots=self._conversation_roots(
                    workflow,
                    now,
                    contact,
                    automated,
                    message,
                    state if state is not None else self._facts.conversation(conn, int(subject)),
                    event_root,
                ),
                facts={"call": dict(call), **({"event": dict(event_root)} if event_root else {})},
                schedules=self._catalog.schedules.view(),
                knowledge=Knowledge(conn),
            )
        except EngineError as error:
            log.exception("conversation %s: workflow %s failed", subject, workflow.id)
            turn, failure = Turn(error.state, ()), str(error)
        run = new_run(
            run_id=run_id,
            version_id=active.version_id,
            subject=subject,
            state=turn.state,
            response="",
            error=failure,
        )
        insert_runs(conn, [run_row(run, channel.channel, failure, now=now)])
        done = self._done(run, 0, turn, workflow, now, automated)
        self._change_conversation(conn, channel, conversation, done)
        channel.apply(conn, conversation, done)
        _keep_ratings(conn, subject, run.id, 0, turn, now)
        queue_fetch(conn, run, turn, channel.channel, now)
        log.info("conversation %s: started workflow %s run %s", subject, workflow.id, run_id)
        return run

    def _resume(
        self,
        conn: Connection,
        stored: StoredRun,
        workflow: Workflow,
        channel: ConversationChannel[S],
        conversation: S,
        reply: Reply,
        now: datetime,
        contact: Mapping[str, Any],
        *,
        message: Mapping[str, Any] | None = None,
    ) -> bool:
        """Resume ``stored`` with ``reply``; False when the run no longer expects this turn
        (another worker, or an earlier attempt of this job, already took it)."""
        state = RunState.from_json(stored.state)
        call = state.facts.get("call", {})
        automated = message is None
        failure: str | None = None
        try:
            turn = self._engine.resume(
                workflow,
                state,
                reply,
                call,
                now=now,
                roots=self._conversation_roots(
                    workflow,
                    now,
                    contact,
                    automated,
                    message,
                    self._facts.conversation(conn, int(channel.subject(conversation))),
                    state.facts.get("event"),
                ),
                schedules=self._catalog.schedules.view(),
                knowledge=Knowledge(conn),
            )
        except EngineError as error:
            subject = channel.subject(conversation)
            log.exception("conversation %s: workflow %s failed", subject, workflow.id)
            turn, failure = Turn(error.state, ()), str(error)
        updated = next_turn(stored, turn.state, "", failure)
        if not save_turns(conn, [TurnSave(updated, now, failure)])[0]:
            return False
        done = self._done(updated, stored.turn, turn, workflow, now, automated)
        self._change_conversation(conn, channel, conversation, done)
        channel.apply(conn, conversation, done)
        _keep_ratings(conn, channel.subject(conversation), stored.id, stored.turn, turn, now)
        queue_fetch(conn, updated, turn, channel.channel, now)
        return True

    def _change_conversation(
        self,
        conn: Connection,
        channel: ConversationChannel[S],
        conversation: S,
        done: TurnDone,
    ) -> None:
        """Apply the turn's conversation steps to the run's conversation (its subject), in
        the turn's transaction; one that cannot act is logged and the run goes on. Messages
        of an automated turn keep the quiet hours of the workflow's ``hours``, as its texts."""
        subject = channel.subject(conversation)
        hold = Hold(done.quiet_until, done.hours) if done.hours is not None else None
        for instruction in done.turn.instructions:
            if not isinstance(instruction, ChangeConversation):
                continue
            try:
                act(conn, int(subject), instruction, self._conversations, done.now, hold=hold)
            except AutomationRefused as error:
                log.warning(
                    "conversation %s: %s step not applied: %s", subject, instruction.action, error
                )

    def _conversation_roots(
        self,
        workflow: Workflow,
        now: datetime,
        contact: Mapping[str, Any],
        automated: bool,
        message: Mapping[str, Any] | None,
        conversation: Mapping[str, Any] | None = None,
        event: Mapping[str, Any] | None = None,
    ) -> dict[str, Mapping[str, Any]]:
        # Words about the next opening are read when the text arrives: after quiet hours.
        read_at = self._facts.quiet_until(workflow, now) if automated else None
        roots = self._facts.roots(
            workflow,
            now,
            contact=contact,
            read_at=read_at,
            message=message,
            conversation=conversation,
        )
        if event is not None:
            roots["event"] = event
        return roots

    def _done(
        self,
        run: StoredRun,
        turn_number: int,
        turn: Turn,
        workflow: Workflow,
        now: datetime,
        automated: bool,
    ) -> TurnDone:
        if not automated:
            return TurnDone(run, turn_number, turn, now, None, None)
        quiet_until = self._facts.quiet_until(workflow, now)
        return TurnDone(run, turn_number, turn, now, quiet_until, workflow.spec.hours)


def _keep_ratings(
    conn: Connection, subject: str, run_id: str, turn_number: int, turn: Turn, now: datetime
) -> None:
    """Store the survey answers of a conversation's turn (``subject`` is the conversation's
    id) in the transaction that saves the turn."""
    for instruction in turn.instructions:
        if isinstance(instruction, RecordRating):
            ratings.keep(conn, int(subject), instruction, run_id=run_id, turn=turn_number, now=now)


def _unsent(instruction: SendText | RequestCallback) -> str:
    if isinstance(instruction, SendText):
        return f"a text to {instruction.to} ({instruction.body!r})"
    return "a callback request"


def _call_vars(call: CallStarted | CallReplied) -> dict[str, str]:
    return {"sid": call.call_id, "from": call.caller, "to": call.called}


def _parties(event: StartingEvent) -> tuple[str, str]:
    """(the business's number, the contact's) of an event."""
    if isinstance(event, CallEnded):
        return event.called, event.caller
    if isinstance(event, TextReceived):
        return event.recipient, event.sender
    return event.business, event.contact


def _trigger(event: StartingEvent, channel: str) -> str:
    """The trigger event ``event`` raises (a text: ``<channel>.received``)."""
    if isinstance(event, TextReceived):
        return f"{channel}.received"
    return event.trigger


def _call_facts(event: StartingEvent, contact: str, business: str) -> Mapping[str, Any]:
    """What a run started by ``event`` reads as ``{{call.*}}``: the contact (``from``) and
    our number (``to``), a call's own facts, a conversation event's data."""
    if isinstance(event, CallEnded):
        return event.facts
    if isinstance(event, ConversationEvent):
        return {
            **event.data,
            "from": contact,
            "to": business,
            "conversation_id": event.conversation_id,
        }
    return {"from": contact, "to": business}


def _event_root(event: StartingEvent) -> Mapping[str, Any] | None:
    """``{{event.name}}`` and ``{{event.data.*}}`` of a run an external event started (kept
    with the run's facts, so later turns read them too)."""
    if isinstance(event, ExternalEvent):
        return {"name": event.name, "data": dict(event.data)}
    return None


def _message(event: StartingEvent) -> Mapping[str, Any] | None:
    """The ``message`` root of a turn that answers a text or a customer's message (None: an
    automated turn, whose texts keep quiet hours)."""
    if isinstance(event, TextReceived):
        return {"body": event.body, "sid": event.message_id}
    if isinstance(event, ConversationEvent) and event.trigger == MESSAGE_RECEIVED:
        return {"body": event.data.get("body", "")}
    return None
