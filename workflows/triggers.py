"""The trigger registry: which events can start a workflow, on which channel, how often.

``call.incoming`` starts a voice run that answers the call. The three post-call events are
raised once per call, when its final status arrives (``ivr/outcome.py`` decides which), and
start a run on the SMS channel that texts the caller; ``sms.received`` starts one when a text
arrives that no waiting conversation takes; ``chat.started`` starts one on the web chat when a
visitor first opens it (the greeting). ``once_per`` is the default per-recipient limit:
a post-call workflow texts the same number at most once in that many seconds, so five missed
calls in ten minutes send one text.

Conversation triggers follow the timeline of a conversation (:mod:`workflows.conversations`):
``conversation.opened``, ``message.received``, ``agent.replied``, ``conversation.assigned`` and
``conversation.closed`` start a workflow when that happens; the *timer* triggers
(``no_agent_reply``, ``no_customer_reply``, ``unanswered``, ``idle_after_resolved``) start one
``after`` a while, if their condition still holds then (:mod:`workflows.automations`).

*External* triggers are named by the business: any dotted lower-case name outside the
namespaces above (``checkout.idle``, ``order.shipped``) is an event another system sends
over the API (``POST /api/events``, :mod:`workflows.external`); it starts a run in a
conversation with the contact the event names, like the conversation triggers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from workflows.channels import CHAT, SMS, VOICE

CALL_INCOMING = "call.incoming"
CALL_MISSED = "call.missed"
CALL_ENDED = "call.ended"
CALL_AFTER_HOURS = "call.after_hours"
SMS_RECEIVED = "sms.received"
CHAT_STARTED = "chat.started"
POST_CALL_LIMIT = 600

CONVERSATION_OPENED = "conversation.opened"
MESSAGE_RECEIVED = "message.received"
AGENT_REPLIED = "agent.replied"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_CLOSED = "conversation.closed"
NO_AGENT_REPLY = "no_agent_reply"
NO_CUSTOMER_REPLY = "no_customer_reply"
UNANSWERED = "unanswered"
IDLE_AFTER_RESOLVED = "idle_after_resolved"

CONVERSATION_TRIGGERS: Mapping[str, str] = {
    "opened": CONVERSATION_OPENED,
    "message.received": MESSAGE_RECEIVED,
    "agent.replied": AGENT_REPLIED,
    "assigned": CONVERSATION_ASSIGNED,
    "closed": CONVERSATION_CLOSED,
}
"""The timeline events (:mod:`workflows.conversations.events`) that raise a trigger, and the
trigger each raises."""

TIMER_TRIGGERS: Mapping[str, str] = {
    "opened": NO_AGENT_REPLY,
    "agent.replied": NO_CUSTOMER_REPLY,
    "message.received": UNANSWERED,
    "closed": IDLE_AFTER_RESOLVED,
}
"""The timeline event that sets each timer trigger going (its starting condition)."""


@dataclass(frozen=True, slots=True)
class TriggerKind:
    """An event kind a workflow can be started by."""

    event: str
    channel: str
    summary: str
    once_per: int = 0
    """Default seconds between two runs of one workflow for the same contact (0: no limit)."""
    timer: bool = False
    """A timer trigger: fires ``after`` its starting condition arose, if it still holds."""


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
        TriggerKind(
            CHAT_STARTED,
            CHAT,
            "A visitor opens the web chat for the first time (its conversation starts).",
        ),
        # Conversations are on SMS today; web chat will share these triggers.
        TriggerKind(CONVERSATION_OPENED, SMS, "A conversation starts (its first message)."),
        TriggerKind(MESSAGE_RECEIVED, SMS, "The contact sends a message in a conversation."),
        TriggerKind(AGENT_REPLIED, SMS, "An agent (or admin) replies in a conversation."),
        TriggerKind(CONVERSATION_ASSIGNED, SMS, "A conversation is given to an agent or a team."),
        TriggerKind(CONVERSATION_CLOSED, SMS, "A conversation is closed."),
        TriggerKind(
            NO_AGENT_REPLY,
            SMS,
            "A conversation opened `after` ago (in the workflow's business hours, if it names"
            " them) and no agent has replied yet.",
            timer=True,
        ),
        TriggerKind(
            NO_CUSTOMER_REPLY,
            SMS,
            "An agent replied `after` ago and the contact has not written since.",
            timer=True,
        ),
        TriggerKind(
            UNANSWERED,
            SMS,
            "The contact's latest message is `after` old and still has no agent reply.",
            timer=True,
        ),
        TriggerKind(
            IDLE_AFTER_RESOLVED,
            SMS,
            "A conversation was closed `after` ago and nobody wrote since.",
            timer=True,
        ),
    )
}

CALL_OUTCOMES = (
    "ended",
    "after_hours",
    "missed",
    "callback",
    "self_service",
    "abandoned",
    "unrouted",
)
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


EXTERNAL_EVENT_NAME = r"^[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31}){1,3}$"
"""An external event's name: two to four dotted lower-case parts (``checkout.idle``)."""
_EXTERNAL = re.compile(EXTERNAL_EVENT_NAME)
RESERVED_NAMESPACES = frozenset(
    {"call", "sms", "chat", "conversation", "message", "agent", "external", "ringflow", "webhook"}
)
"""First parts an external event may not use: Ringflow's own events live there, so a typo in
one of them (``call.mised``) is an error, not a new external event."""


def is_external(event: str) -> bool:
    """Whether ``event`` names an external event (a trigger another system raises)."""
    return (
        event not in TRIGGER_KINDS
        and _EXTERNAL.match(event) is not None
        and event.split(".", 1)[0] not in RESERVED_NAMESPACES
    )


def trigger_kind(event: str) -> TriggerKind:
    """The kind of the trigger ``event``: a built-in one, or an external event's (raises
    ``KeyError`` for anything else)."""
    kind = TRIGGER_KINDS.get(event)
    if kind is not None:
        return kind
    if is_external(event):
        return TriggerKind(
            event, SMS, "An event another system sends over the API (POST /api/events)."
        )
    raise KeyError(event)
