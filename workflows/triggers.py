"""The trigger registry: which events can start a workflow, on which channel, how often.

``call.incoming`` starts a voice run that answers the call. The three post-call events are
raised once per call, when its final status arrives (``ivr/outcome.py`` decides which), and
start a run on the SMS channel that texts the caller; ``sms.received`` starts one when a text
arrives that no waiting conversation takes. ``once_per`` is the default per-recipient limit:
a post-call workflow texts the same number at most once in that many seconds, so five missed
calls in ten minutes send one text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from workflows.channels import SMS, VOICE

CALL_INCOMING = "call.incoming"
CALL_MISSED = "call.missed"
CALL_ENDED = "call.ended"
CALL_AFTER_HOURS = "call.after_hours"
SMS_RECEIVED = "sms.received"
POST_CALL_LIMIT = 600


@dataclass(frozen=True, slots=True)
class TriggerKind:
    """An event kind a workflow can be started by."""

    event: str
    channel: str
    summary: str
    once_per: int = 0
    """Default seconds between two runs of one workflow for the same contact (0: no limit)."""


TRIGGER_KINDS: Mapping[str, TriggerKind] = {
    kind.event: kind
    for kind in (
        TriggerKind(CALL_INCOMING, VOICE, "A phone call reaches one of the business's numbers."),
        TriggerKind(
            CALL_MISSED,
            SMS,
            "A call ended without reaching anyone: no agent answered, or the caller hung up"
            " while waiting.",
            POST_CALL_LIMIT,
        ),
        TriggerKind(
            CALL_ENDED, SMS, "A call ended after the caller spoke with an agent.", POST_CALL_LIMIT
        ),
        TriggerKind(
            CALL_AFTER_HOURS,
            SMS,
            "A call came in while its workflow's business hours (`hours`) were closed.",
            POST_CALL_LIMIT,
        ),
        TriggerKind(SMS_RECEIVED, SMS, "A text arrives that no waiting conversation takes."),
    )
}

CALL_OUTCOMES = ("ended", "after_hours", "missed", "self_service", "abandoned", "unrouted")
"""Every outcome a call can end with; ``ivr/outcome.py`` decides which, once per call."""

OUTCOME_EVENTS: Mapping[str, str] = {
    "missed": CALL_MISSED,
    "ended": CALL_ENDED,
    "after_hours": CALL_AFTER_HOURS,
}
"""The call outcomes that raise an event, and the event each raises."""

CALL_EVENT_JOB = "call.event"
"""The job kind that runs the workflow of a call's outcome event; queued with the call's final
status, payload ``{"event": "call.missed", "facts": {...}}``, dedupe key
``call-event:<CallSid>``."""
