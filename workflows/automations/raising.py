"""Queue the ``conversation.event`` job of a timeline event that raises a trigger (called by
:func:`workflows.conversations.events.record`, in the caller's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from workflows.jobs import enqueue
from workflows.triggers import CONVERSATION_TRIGGERS, TIMER_TRIGGERS

CONVERSATION_EVENT_JOB: Final = "conversation.event"
"""Payload ``{"event_id"}`` (the timeline event); dedupe key ``conversation-event:<id>``."""

CONVERSATION_TIMER_JOB: Final = "conversation.timer"
"""Payload ``{"event_id", "trigger", "workflow_id"}``; dedupe key
``conversation-timer:<conversation>:<trigger>:<workflow>:<event>``; the workflow it starts
fires once under ``conversation-timer:<event>:<workflow>``."""


def raises(kind: str, actor_type: str) -> bool:
    """Whether a timeline event of ``kind`` by ``actor_type`` raises a trigger or a timer.

    An automated reply is not an agent's: it raises neither ``agent.replied`` (a workflow
    replying to ``agent.replied`` would answer itself forever) nor ``no_customer_reply``.
    """
    if kind == "agent.replied" and actor_type == "automation":
        return False
    return kind in CONVERSATION_TRIGGERS or kind in TIMER_TRIGGERS


def raise_event(conn: Connection, event_id: int, kind: str, actor_type: str, now: datetime) -> None:
    """Queue the job that follows timeline event ``event_id``, if it raises anything."""
    if raises(kind, actor_type):
        enqueue(
            conn,
            CONVERSATION_EVENT_JOB,
            {"event_id": event_id},
            dedupe_key=f"conversation-event:{event_id}",
            now=now,
        )
