"""The session service on its own: an event in, the channel's instructions out, the run
persisted; with a conversation channel written for the test (the protocol a channel
implements) and a call channel that words instructions as their reprs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Connection, select

from ringflow.database import Database
from tests.clock import MONDAY, FrozenClock, next_weekday_at
from workflows.catalog import WorkflowCatalog
from workflows.conversations.model import Conversation as ReadConversation
from workflows.db import runs, trigger_firings
from workflows.engine import Engine
from workflows.events import (
    CallEnded,
    CallReplied,
    CallStarted,
    DigitsReceived,
    ExternalEvent,
    TextReceived,
)
from workflows.instructions import Instruction, Say
from workflows.loader import Workflow, from_text
from workflows.runs import StoredRun, insert_runs, run_row
from workflows.sessions import SessionService, TurnDone

NOW = next_weekday_at(MONDAY, time(8, 0), UTC)
CALLER = "+14155550123"
LINE = "+15005550001"


def flow(text: str) -> Workflow:
    return from_text(text, "test.yaml")


MENU = flow(
    f"""
id: front-desk
trigger: {{event: call.incoming, to: "{LINE}"}}
start: welcome
steps:
  welcome: {{say: "Welcome.", next: menu}}
  menu:
    menu:
      say: "Press 1 for sales."
      options: {{"1": sales}}
  sales: {{say: "Sales, hold on."}}
"""
)
MISSED = flow(
    """
id: missed
trigger: {event: call.missed}
start: sorry
steps:
  sorry: {say: "Sorry we missed your call."}
"""
)
TEXTED = flow(
    """
id: texted
trigger: {event: sms.received, when: {keywords: [hours]}}
start: hours
steps:
  hours: {say: "We open at 9."}
"""
)


@dataclass
class Conversation:
    id: int
    business: str
    contact: str


@dataclass
class Notebook:
    """A conversation channel that keeps what it was asked to do."""

    channel: str = "sms"
    conversations: list[Conversation] = field(default_factory=list)
    done: list[TurnDone] = field(default_factory=list)

    def open(self, conn: Connection, business: str, contact: str, now: datetime) -> Conversation:
        for conversation in self.conversations:
            if (conversation.business, conversation.contact) == (business, contact):
                return conversation
        self.conversations.append(Conversation(len(self.conversations) + 1, business, contact))
        return self.conversations[-1]

    def subject(self, conversation: Conversation) -> str:
        return str(conversation.id)

    def by_id(self, conn: Connection, conversation_id: int) -> Conversation | None:
        return next((c for c in self.conversations if c.id == conversation_id), None)

    def of_conversation(self, conversation: ReadConversation) -> Conversation:
        return next(c for c in self.conversations if c.id == conversation.id)

    def of_run(self, conn: Connection, run: StoredRun) -> Conversation | None:
        return next((c for c in self.conversations if str(c.id) == run.subject), None)

    def contact(self, conversation: Conversation) -> str:
        return conversation.contact

    def apply(self, conn: Connection, conversation: Conversation, done: TurnDone) -> None:
        self.done.append(done)


class Reprs:
    """A call channel that words a turn as the reprs of its instructions."""

    async def answer(
        self,
        instructions: tuple[Instruction, ...],
        workflow: Workflow,
        *,
        run_id: str,
        next_turn: int,
        finished: bool,
    ) -> str:
        return f"{next_turn}|{finished}|" + "; ".join(map(repr, instructions))

    def apology(self) -> str:
        return "sorry"


async def service(db: Database, *loaded: Workflow) -> SessionService:
    clock = FrozenClock(NOW)
    catalog = WorkflowCatalog(db, clock=clock)
    await catalog.install_files(loaded)
    return SessionService(db, catalog, Engine(), clock)


async def stored_runs(db: Database) -> list[Any]:
    query = select(runs.c.id, runs.c.channel, runs.c.subject, runs.c.status, runs.c.turn)
    return list(await db.read(lambda conn: conn.execute(query.order_by(runs.c.created_at)).all()))


async def test_a_call_is_answered_then_resumed_and_each_turn_is_stored(
    migrated_db: Database,
) -> None:
    sessions = await service(migrated_db, MENU)
    started = CallStarted(call_id="CA1", caller=CALLER, called=LINE, at=NOW)
    opening = await sessions.call_started(started, Reprs())
    assert opening.run is not None
    assert opening.workflow_id == "front-desk"
    assert opening.answer.startswith("1|False|Say(text='Welcome.'")
    assert "Gather(" in opening.answer
    # The voice channel stores the run with its call; then the next turn resumes it.
    run = opening.run
    await migrated_db.write(lambda conn: insert_runs(conn, [run_row(run, "voice", now=NOW)]))
    sessions.remember(run)

    replied = CallReplied("CA1", CALLER, LINE, run.id, 1, DigitsReceived(digits="1"))
    answer = await sessions.call_replied(replied, Reprs())
    assert answer == "2|True|" + repr(Say(text="Sales, hold on."))
    assert await stored_runs(migrated_db) == [(run.id, "voice", "CA1", "completed", 2)]
    # The same webhook again: the stored answer, nothing run twice.
    assert await sessions.call_replied(replied, Reprs()) == answer
    assert await stored_runs(migrated_db) == [(run.id, "voice", "CA1", "completed", 2)]


async def test_a_call_no_workflow_takes_opens_nothing(migrated_db: Database) -> None:
    sessions = await service(migrated_db, MENU)
    started = CallStarted(call_id="CA2", caller=CALLER, called="+15005550999", at=NOW)
    opening = await sessions.call_started(started, Reprs())
    assert opening.run is None


async def test_a_call_event_starts_its_workflow_in_a_conversation_once(
    migrated_db: Database,
) -> None:
    sessions = await service(migrated_db, MISSED)
    notebook = Notebook()
    facts = {"sid": "CA3", "from": CALLER, "to": LINE, "outcome": "missed", "duration": 0}
    ended = CallEnded("call.missed", CALLER, LINE, facts, key="call-event:CA3", at=NOW)

    assert await sessions.handle(ended, notebook) == "workflow missed: started"
    (done,) = notebook.done
    assert done.turn.instructions == (Say(text="Sorry we missed your call."),)
    assert done.hours is None
    assert done.quiet_until is None
    (row,) = await stored_runs(migrated_db)
    assert (row.channel, row.subject, row.status) == ("sms", "1", "completed")
    # The same event again (a job retried): nothing new.
    assert await sessions.handle(ended, notebook) == "workflow missed: repeat"
    assert len(notebook.done) == 1


async def test_a_text_starts_the_workflow_its_words_match(migrated_db: Database) -> None:
    sessions = await service(migrated_db, TEXTED)
    notebook = Notebook()
    hours = TextReceived(message_id="SM1", sender=CALLER, recipient=LINE, body="your hours?")
    assert await sessions.handle(hours, notebook) == "workflow texted: started"
    assert notebook.done[0].turn.instructions == (Say(text="We open at 9."),)

    other = TextReceived(message_id="SM2", sender=CALLER, recipient=LINE, body="hello")
    assert await sessions.handle(other, notebook) == "no sms.received workflow takes it"
    firings = select(trigger_firings.c.event_key, trigger_firings.c.status)
    stored = await migrated_db.read(lambda conn: sorted(conn.execute(firings).all()))
    assert stored == [("inbound:SM1", "started"), ("inbound:SM2", "ignored")]


async def test_an_external_event_goes_through_the_same_door(migrated_db: Database) -> None:
    # No workflow listens to this event: it is matched, and nothing starts.
    sessions = await service(migrated_db, MISSED, TEXTED)
    event = ExternalEvent("order.shipped", CALLER, LINE, key="ext:1", data={"order": "42"})
    assert event.trigger == "order.shipped"
    assert await sessions.handle(event, Notebook()) == "no workflow takes it"
    assert await stored_runs(migrated_db) == []
