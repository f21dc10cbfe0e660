"""The jobs that run workflows for conversations: ``conversation.event`` (a timeline event
happened) and ``conversation.timer`` (a timer trigger came due). See the package docstring."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ringflow.database import Database
from workflows.automations.raising import CONVERSATION_TIMER_JOB, raises
from workflows.automations.timers import due_at, still_holds
from workflows.catalog import WorkflowCatalog
from workflows.contacts import ContactRow, lock_contact
from workflows.conversations.db import conversation_events, conversations
from workflows.conversations.errors import UnknownConversation
from workflows.conversations.events import ANSWERS_RUN, Event, event_of
from workflows.conversations.model import Conversation, NamedConversation, load_named
from workflows.events import ConversationEvent
from workflows.jobs import ClaimedJob, FinalWrite, PermanentJobError, enqueue
from workflows.sessions import ConversationChannel, SessionService
from workflows.triggers import CONVERSATION_TRIGGERS, TIMER_TRIGGERS, TRIGGER_KINDS

log = logging.getLogger(__name__)

GONE = "gone"
"""What a handler says when the event or its conversation no longer exists."""
RAISES_NOTHING = "raises nothing"
NOTHING_LISTENS = "nothing listens"
NOTHING_STARTED = frozenset({GONE, RAISES_NOTHING, NOTHING_LISTENS})
"""What :meth:`ConversationEventHandler.handle_in` says when it started no workflow and set
no timer."""

Channels = Mapping[str, ConversationChannel[Any]]
"""The conversation channel of each channel name (``"sms"``...), filled by the server."""


def _int(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int):
        raise PermanentJobError(f"payload has no integer {name!r}")
    return value


class _Base:
    def __init__(
        self,
        db: Database,
        sessions: SessionService,
        catalog: WorkflowCatalog,
        channels: Channels,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._sessions = sessions
        self._catalog = catalog
        self._channels = channels
        self._clock = clock

    def _event_and_conversation(
        self, conn: Connection, event_id: int, now: datetime
    ) -> tuple[Event, NamedConversation, ContactRow] | None:
        """The event, its conversation (with its assignees' names) and its contact, locked:
        the contact first, then the conversation, the order every path takes (an inbound
        text's job locks its contact, then opens its conversation); the other order
        deadlocks against it on PostgreSQL. The event and its conversation's contact number
        come in one query."""
        found = conn.execute(
            select(conversation_events, conversations.c.contact_number.label("contact"))
            .join(conversations, conversations.c.id == conversation_events.c.conversation_id)
            .where(conversation_events.c.id == event_id)
        ).first()
        if found is None:
            return None
        event = event_of(found)
        contact = lock_contact(conn, found.contact, now=now)
        try:
            return event, load_named(conn, event.conversation_id, lock=True), contact
        except UnknownConversation:
            return None

    def _start(
        self,
        conn: Connection,
        conversation: Conversation,
        trigger: str,
        key: str,
        now: datetime,
        *,
        data: Mapping[str, Any],
        contact: ContactRow,
        workflow_id: str | None = None,
        at: datetime | None = None,
        version_id: int | None = None,
        read: NamedConversation | None = None,
    ) -> str:
        """Start ``workflow_id`` (or what ``trigger`` calls for) in ``conversation``;
        ``read``: the conversation as read in this transaction, unchanged since."""
        channel = self._channels.get(conversation.channel)
        if channel is None:
            return f"no conversation channel {conversation.channel!r} here"
        event = ConversationEvent(
            trigger=trigger,
            conversation_id=conversation.id,
            contact=conversation.contact_number,
            business=conversation.business_number,
            key=key,
            data=data,
            workflow_id=workflow_id,
            at=at,
        )
        return self._sessions.start_in(
            conn, event, channel, now, locked=contact, version_id=version_id, read=read
        )


class ConversationEventHandler(_Base):
    """Starts the workflow a timeline event's trigger calls for and sets the timers the
    event starts (job kind ``conversation.event``)."""

    async def __call__(self, job: ClaimedJob) -> FinalWrite:
        """The job's work as its final write: committed with the job's completion, so a
        worker lost in between leaves neither and the job runs again."""
        event_id = _int(job.payload, "event_id")
        now = self._clock()

        def follow(conn: Connection) -> None:
            log.info("conversation event %d: %s", event_id, self.handle_in(conn, event_id, now))

        return follow

    def handle_in(
        self, conn: Connection, event_id: int, now: datetime, *, version_id: int | None = None
    ) -> str:
        """Follow timeline event ``event_id`` in the caller's transaction; what happened.

        ``version_id`` (a test conversation's): that workflow version is the only one the
        event may start (whatever is published), and no timer is set."""
        found = self._event_and_conversation(conn, event_id, now)
        if found is None:
            return GONE
        event, read, contact = found
        conversation = read.conversation
        if not raises(event.kind, event.actor.type):
            return RAISES_NOTHING
        said: list[str] = []
        trigger = CONVERSATION_TRIGGERS.get(event.kind)
        if event.data.get(ANSWERS_RUN):
            # A waiting run's answer (a tapped menu button): that run's, not a new message.
            said.append(f"answers run {event.data[ANSWERS_RUN]}: starts no workflow")
        elif trigger is not None:
            data = {"event": event.kind, "body": event.body or ""}
            # Every workflow the event's trigger, numbers and filter take starts (rules that
            # each add their part: a priority, a notice...), each once. Only the first sees
            # the conversation as read above: a workflow may change it (a priority, a tag),
            # so the next one reads it again.
            unchanged: NamedConversation | None = read
            for workflow_id in self._starting(conn, trigger, conversation, version_id):
                key = f"conversation-event:{event.id}:{workflow_id}"
                started = self._start(
                    conn,
                    conversation,
                    trigger,
                    key,
                    now,
                    data=data,
                    contact=contact,
                    workflow_id=workflow_id,
                    at=event.at,
                    version_id=version_id,
                    read=unchanged,
                )
                unchanged = None
                said.append(f"{trigger}: {started}")
        timer = TIMER_TRIGGERS.get(event.kind)
        if timer is not None and version_id is None:
            said.extend(self._set_timers(conn, timer, conversation, event, now))
        return "; ".join(said) or NOTHING_LISTENS

    def _starting(
        self, conn: Connection, trigger: str, conversation: Conversation, version_id: int | None
    ) -> list[str]:
        """The ids of the workflows ``trigger`` may start in ``conversation``: the catalog's
        candidates, or the workflow of version ``version_id`` (a test's) if it starts on it."""
        if version_id is None:
            candidates = self._catalog.candidates(trigger, conversation.business_number)
            return [active.workflow.id for active in candidates]
        workflow = self._catalog.version_in(conn, version_id)
        return [workflow.id] if workflow.spec.trigger.event == trigger else []

    def _set_timers(
        self, conn: Connection, timer: str, conversation: Conversation, event: Event, now: datetime
    ) -> list[str]:
        set_ = []
        for active in self._catalog.candidates(timer, conversation.business_number):
            workflow = active.workflow
            after = workflow.spec.trigger.after or 0
            due = due_at(timer, self._catalog.schedules, workflow.spec.hours, event.at, after)
            enqueue(
                conn,
                CONVERSATION_TIMER_JOB,
                {"event_id": event.id, "trigger": timer, "workflow_id": workflow.id},
                dedupe_key=(
                    f"conversation-timer:{conversation.id}:{timer}:{workflow.id}:{event.id}"
                ),
                due_at=due,
                now=now,
            )
            set_.append(f"{timer} timer of {workflow.id} due {due.isoformat()}")
        return set_


class ConversationTimerHandler(_Base):
    """Starts a timer trigger's workflow if its condition still holds (job kind
    ``conversation.timer``)."""

    async def __call__(self, job: ClaimedJob) -> FinalWrite:
        """The condition's check and the workflow's start as the job's final write: committed
        with the job's completion, so a worker lost in between leaves neither and the timer
        runs again (it fires once: its firing's key, and the check, see to that)."""
        event_id = _int(job.payload, "event_id")
        trigger, workflow_id = job.payload.get("trigger"), job.payload.get("workflow_id")
        if not isinstance(trigger, str) or not isinstance(workflow_id, str):
            raise PermanentJobError("payload needs trigger and workflow_id")
        if trigger not in TRIGGER_KINDS or not TRIGGER_KINDS[trigger].timer:
            raise PermanentJobError(f"{trigger!r} is not a timer trigger")
        # The firing's key (at most 128 characters): the event names the conversation and
        # the timer trigger it starts.
        key = f"conversation-timer:{event_id}:{workflow_id}"
        now = self._clock()

        def fire(conn: Connection) -> None:
            outcome = self.handle_in(conn, event_id, trigger, workflow_id, key, now)
            log.info(
                "conversation event %d: %s timer of %s: %s", event_id, trigger, workflow_id, outcome
            )

        return fire

    def handle_in(
        self,
        conn: Connection,
        event_id: int,
        trigger: str,
        workflow_id: str,
        key: str,
        now: datetime,
    ) -> str:
        """Fire the timer in the caller's transaction, if its condition still holds."""
        found = self._event_and_conversation(conn, event_id, now)
        if found is None:
            return GONE
        event, read, contact = found
        conversation = read.conversation
        if not still_holds(trigger, conversation, event):
            return "no longer holds"
        # {{call.since}}: when the condition arose; {{call.body}}: the message it follows.
        data = {"event": event.kind, "since": event.at.isoformat(), "body": event.body or ""}
        return self._start(
            conn,
            conversation,
            trigger,
            key,
            now,
            data=data,
            contact=contact,
            workflow_id=workflow_id,
            read=read,
        )
