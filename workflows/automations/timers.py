"""When a timer trigger comes due, and whether its condition still holds when it does.

Each timer trigger starts from one timeline event (:data:`workflows.triggers.TIMER_TRIGGERS`):

* ``no_agent_reply`` from ``opened``: still open and no agent has replied yet;
* ``unanswered`` from ``message.received``: still open, unanswered, and that message is
  still the contact's latest;
* ``no_customer_reply`` from an agent's ``agent.replied``: still open, and nobody wrote since
  (neither the contact nor another reply, which set a timer of its own);
* ``idle_after_resolved`` from ``closed``: still closed by that same close, nobody wrote since.

``no_agent_reply`` and ``unanswered`` measure how long agents take, so when the workflow names
business hours (``hours``) their ``after`` counts open time only: a text at 17:50 with 30m
and hours closing at 18:00 comes due at 9:20 the next opening day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.conversations.events import Event
from workflows.conversations.model import Conversation
from workflows.schedules.book import ScheduleBook
from workflows.triggers import IDLE_AFTER_RESOLVED, NO_AGENT_REPLY, NO_CUSTOMER_REPLY, UNANSWERED

BUSINESS_TIME_TRIGGERS = frozenset({NO_AGENT_REPLY, UNANSWERED})
"""The timers whose ``after`` counts business hours when the workflow names them."""

_MAX_WINDOWS = 1000
"""Open windows walked at most (years of them: a schedule that never opens ends sooner)."""


def open_time_after(
    book: ScheduleBook, schedule: str, start: datetime, seconds: int
) -> datetime | None:
    """The moment ``seconds`` of ``schedule``'s open time have passed since ``start``;
    None when the schedule is unknown or does not open again."""
    at, left = start, timedelta(seconds=seconds)
    for _ in range(_MAX_WINDOWS):
        status = book.status(schedule, at)
        if status is None:
            return None
        if not status.open:
            if status.next_open is None or status.next_open <= at:
                return None
            at = status.next_open
            continue
        if status.until is None or at + left <= status.until:
            return at + left
        left -= status.until - at
        at = status.until
    return None


def due_at(
    trigger: str, book: ScheduleBook, hours: str | None, start: datetime, seconds: int
) -> datetime:
    """When the timer ``trigger`` set at ``start`` with ``after`` = ``seconds`` comes due."""
    if hours is not None and trigger in BUSINESS_TIME_TRIGGERS:
        found = open_time_after(book, hours, start, seconds)
        if found is not None:
            return found
    return start + timedelta(seconds=seconds)


def _after(moment: datetime | None, event: Event) -> bool:
    return moment is not None and moment > event.at


def still_holds(trigger: str, conversation: Conversation, event: Event) -> bool:
    """Whether the condition of ``trigger``, set by ``event``, holds for ``conversation`` now."""
    if trigger == NO_AGENT_REPLY:
        return conversation.status == "open" and conversation.first_response_at is None
    if trigger == UNANSWERED:
        return (
            conversation.status == "open"
            and conversation.unanswered
            and not _after(conversation.last_customer_message_at, event)
        )
    if trigger == NO_CUSTOMER_REPLY:
        return (
            conversation.status == "open"
            and not _after(conversation.last_customer_message_at, event)
            and not _after(conversation.last_agent_message_at, event)
        )
    if trigger == IDLE_AFTER_RESOLVED:
        return (
            conversation.status == "closed"
            and conversation.closed_at is not None
            and not _after(conversation.closed_at, event)
            and not _after(conversation.last_customer_message_at, event)
            and not _after(conversation.last_agent_message_at, event)
        )
    return False
