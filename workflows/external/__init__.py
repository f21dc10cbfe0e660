"""External events: what other systems report over the API (``POST /api/events``), and the
workflows they start.

An accepted event is a row of ``external_events`` and a durable job (``external.event``)
written in the same transaction (:func:`accept`); the job starts every workflow whose trigger
names the event (``trigger: {event: checkout.idle}``) through the session service, each once
(:class:`ExternalEventHandler`). An optional idempotency key makes a retried event start
nothing twice.
"""

from workflows.external.accept import (
    EXTERNAL_EVENT_JOB,
    Accepted,
    IdempotencyConflict,
    Incoming,
    accept,
)
from workflows.external.db import external_events
from workflows.external.handler import ExternalEventHandler

__all__ = [
    "EXTERNAL_EVENT_JOB",
    "Accepted",
    "ExternalEventHandler",
    "IdempotencyConflict",
    "Incoming",
    "accept",
    "external_events",
]
