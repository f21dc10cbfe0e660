"""The facts a turn reads besides its run's own state, built the same way for every channel.

*Roots* are the template and filter values of a turn: ``contact`` (the contact's attributes),
``schedule`` (words about the workflow's business hours), ``message`` (the text being
answered) and ``conversation`` (the state of the run's conversation). A *filter context*
is what a trigger's ``when`` is checked against.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from workflows.catalog import ActiveWorkflow, WorkflowCatalog
from workflows.conditions import FilterContext
from workflows.conversations.facts import state_of, state_values
from workflows.conversations.model import NamedConversation
from workflows.events import (
    CallEnded,
    ConversationEvent,
    ExternalEvent,
    StartingEvent,
    TextReceived,
)
from workflows.loader import Workflow
from workflows.schedules.values import ScheduleValues


class Facts:
    """Builds roots and filter contexts from the catalog's schedules."""

    def __init__(self, catalog: WorkflowCatalog) -> None:
        self._catalog = catalog
        self._plain: set[int] = set()
        """Versions that need neither the contact nor business hours."""

    def is_plain(self, active: ActiveWorkflow) -> bool:
        """Whether ``active`` reads neither its contact nor business hours (decided once per
        version: the usual case, which then reads nothing)."""
        if active.version_id in self._plain:
            return True
        if self._catalog.reads_contact(active) or active.workflow.spec.hours is not None:
            return False
        self._plain.add(active.version_id)
        return True

    def reads_contact(self, active: ActiveWorkflow) -> bool:
        """Whether ``active`` looks at its contact."""
        return self._catalog.reads_contact(active)

    def roots(
        self,
        workflow: Workflow,
        now: datetime,
        *,
        contact: Mapping[str, Any] | None = None,
        read_at: datetime | None = None,
        message: Mapping[str, Any] | None = None,
        conversation: Mapping[str, Any] | None = None,
    ) -> dict[str, Mapping[str, Any]]:
        """The roots of a turn: ``contact`` and ``message`` when given, ``schedule`` when the
        workflow names business hours (its words about the next opening read at ``read_at``,
        default ``now``: a text held by quiet hours speaks of when it arrives)."""
        values: dict[str, Mapping[str, Any]] = {}
        if contact is not None:
            values["contact"] = contact
        hours = workflow.spec.hours
        if hours is not None:
            language = workflow.spec.defaults.language or "en"
            values["schedule"] = ScheduleValues(
                self._catalog.schedules, hours, now, language, read_at
            )
        if message is not None:
            values["message"] = message
        if conversation is not None:
            values["conversation"] = conversation
        return values

    def conversation(self, conn: Connection, conversation_id: int) -> dict[str, Any] | None:
        """The state of the conversation ``conversation_id`` (see
        :func:`workflows.conversations.facts.state_values`)."""
        return state_values(conn, conversation_id)

    def with_conversation(
        self,
        conn: Connection,
        ctx: FilterContext,
        conversation_id: int,
        read: NamedConversation | None = None,
    ) -> FilterContext:
        """``ctx`` with the state of the conversation an event is about: of ``read`` when
        the caller has just read it in this transaction, else read here."""
        state = state_of(read) if read is not None else state_values(conn, conversation_id)
        return dataclasses.replace(ctx, conversation=state)

    def after_hours(self, workflow: Workflow, now: datetime) -> dict[str, Any]:
        """The start fact ``after_hours`` of a call, when the workflow names business hours."""
        hours = workflow.spec.hours
        if hours is None:
            return {}
        return {"after_hours": not self._catalog.schedules.is_open(hours, now)}

    def quiet_until(self, workflow: Workflow, now: datetime) -> datetime | None:
        """When the quiet hours of the workflow's business hours end (None: not quiet now,
        or no business hours)."""
        hours = workflow.spec.hours
        if hours is None:
            return None
        return self._catalog.schedules.quiet_until(hours, now)

    def call_context(
        self, channel: str, called: str, contact: Mapping[str, Any], now: datetime
    ) -> FilterContext:
        """What the ``when`` of a workflow answering a call is checked against."""
        return FilterContext(
            now=now,
            channel=channel,
            called=called,
            contact=contact,
            schedules=self._catalog.schedules.view(),
        )

    def event_context(
        self,
        event: StartingEvent,
        channel: str,
        business: str,
        contact: Mapping[str, Any],
        now: datetime,
    ) -> FilterContext:
        """What the ``when`` of a workflow ``event`` may start is checked against."""
        text = event.body if isinstance(event, TextReceived) else None
        if isinstance(event, ConversationEvent):
            # The message a message.received (or agent.replied) event is about.
            body = event.data.get("body")
            text = body if isinstance(body, str) and body else None
        ended = event if isinstance(event, CallEnded) else None
        if isinstance(event, ConversationEvent | ExternalEvent) and event.at is not None:
            now = event.at
        return FilterContext(
            now=now,
            channel=channel,
            called=business,
            text=text,
            contact=contact,
            outcome=ended.facts.get("outcome") if ended else None,
            duration=ended.facts.get("duration") if ended else None,
            schedules=self._catalog.schedules.view(),
            data=event.data if isinstance(event, ExternalEvent) else {},
        )
