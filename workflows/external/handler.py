"""The ``external.event`` job: start every workflow an accepted event's trigger calls for."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from ringflow.database import Database
from workflows.catalog import WorkflowCatalog
from workflows.events import ExternalEvent
from workflows.external.db import external_events
from workflows.jobs import ClaimedJob, PermanentJobError
from workflows.sessions import ConversationChannel, SessionService

log = logging.getLogger(__name__)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ExternalEventHandler:
    """Starts the workflows of an accepted external event, each once (its firing key names
    the event and the workflow), in one transaction."""

    def __init__(
        self,
        db: Database,
        sessions: SessionService,
        catalog: WorkflowCatalog,
        channels: Mapping[str, ConversationChannel[Any]],
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._sessions = sessions
        self._catalog = catalog
        self._channels = channels
        self._clock = clock

    async def __call__(self, job: ClaimedJob) -> None:
        event_id = job.payload.get("event_id")
        if not isinstance(event_id, int):
            raise PermanentJobError("payload has no integer 'event_id'")
        now = self._clock()
        outcome = await self._db.write(lambda conn: self.handle_in(conn, event_id, now))
        log.info("external event %d: %s", event_id, outcome)

    def handle_in(self, conn: Connection, event_id: int, now: datetime) -> str:
        """Start the event's workflows in the caller's transaction; what happened, in words."""
        row = conn.execute(select(external_events).where(external_events.c.id == event_id)).first()
        if row is None:
            return "gone"
        channel = self._channels.get(row.channel)
        if channel is None:
            raise PermanentJobError(f"no conversation channel {row.channel!r} here")
        said = []
        # With a line: the workflows for that number, then the catch-alls; without one, every
        # workflow of the event, each answering from the first number its trigger names.
        if row.line is not None:
            found = self._catalog.candidates(row.name, row.line)
        else:
            found = self._catalog.listening(row.name)
        for active in found:
            workflow = active.workflow
            numbers = workflow.spec.trigger.to
            business = row.line or (numbers[0] if numbers else None)
            if business is None:
                said.append(
                    f"{workflow.id}: not started: the event names no line and the workflow's"
                    " trigger no number (`to`) to answer from"
                )
                continue
            event = ExternalEvent(
                name=row.name,
                contact=row.contact_number,
                business=business,
                key=f"external:{row.id}:{workflow.id}",
                data=row.data or {},
                workflow_id=workflow.id,
                at=_aware(row.received_at),
            )
            said.append(self._sessions.start_in(conn, event, channel, now))
        return "; ".join(said) or f"no workflow listens to {row.name}"
