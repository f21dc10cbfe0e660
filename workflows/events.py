"""Channel-neutral events, parsed at the edge from wire input (past tense, frozen).

Channels hand these to the session service (:mod:`workflows.sessions`), the one way into the
core. Events that may start a run: ``CallStarted`` (a voice run answers the call),
``CallEnded`` (its outcome raises ``call.missed``...), ``TextReceived``, ``ConversationEvent``
and ``ExternalEvent``. Events that resume a run waiting for its channel: the ``Reply`` events
(keys, a dial's or a recording's end, a timer), carried on a call by ``CallReplied``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

DialStatus = Literal["answered", "no_answer", "busy", "failed"]


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A phone call reached one of the business's numbers."""

    call_id: str
    caller: str
    called: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DigitsReceived:
    """The caller pressed keys (``digits``) or said something (``speech``); on SMS the text
    is ``speech``, and ``digits`` too when it is only keys (``"2"``)."""

    digits: str = ""
    speech: str = ""


@dataclass(frozen=True, slots=True)
class InputTimedOut:
    """The channel waited for input and got none."""


@dataclass(frozen=True, slots=True)
class DialFinished:
    """A dial attempt ended: answered (and later hung up), or not answered."""

    status: DialStatus
    duration: int = 0
    answered_by: str | None = None
    rung: tuple[str, ...] = ()
    """The agents a ``connect`` step's ring reached out to (by name); empty for ``dial``."""


@dataclass(frozen=True, slots=True)
class AgentsUnavailable:
    """A ``connect`` step's team had nobody to ring (and no hold queue to wait in)."""


@dataclass(frozen=True, slots=True)
class QueueLeft:
    """A caller left a team's hold queue: ``offered`` to ``agent`` (who is free now),
    ``left`` by a choice (``choice``: ``callback``, ``voicemail``, or the queue's fallback
    after its maximum wait), or ``hangup``/``error`` (the caller is gone)."""

    result: Literal["offered", "left", "hangup", "error"]
    agent: str | None = None
    choice: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    """A recording ended; ``url`` is empty when nothing was recorded."""

    url: str = ""
    duration: int = 0


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The time a ``wait`` step asked for has come."""


@dataclass(frozen=True, slots=True)
class HttpAnswered:
    """An ``http_request`` step's request ended: ``status`` (None: no answer), the answer's
    JSON (``json`` None when it was empty or not JSON, ``bad_json`` when it was not JSON) or
    the ``error`` that kept it from answering (refused, timeout...)."""

    status: int | None = None
    json: Any = None
    bad_json: bool = False
    error: str | None = None


Reply = (
    DigitsReceived
    | InputTimedOut
    | DialFinished
    | RecordingFinished
    | TimerFired
    | AgentsUnavailable
    | QueueLeft
    | HttpAnswered
)


@dataclass(frozen=True, slots=True)
class CallReplied:
    """The caller's side of a call answered turn ``turn`` of run ``run_id`` with ``reply``."""

    call_id: str
    caller: str
    called: str
    run_id: str
    turn: int
    reply: Reply


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A call ended with an outcome that raises ``trigger`` (``call.missed``...).

    ``facts`` are what the workflows it starts read as ``{{call.*}}``; ``key`` makes the
    event start its workflow once; ``at`` is when the call ended (the per-contact limit
    counts from then, not from when a worker got to it; None: now).
    """

    trigger: str
    caller: str
    called: str
    facts: Mapping[str, Any]
    key: str
    at: datetime | None = None

    @property
    def outcome(self) -> str | None:
        """The call's outcome (``missed``, ``ended``...)."""
        value = self.facts.get("outcome")
        return value if isinstance(value, str) else None

    @property
    def duration(self) -> int | None:
        """How long the call lasted, in seconds."""
        value = self.facts.get("duration")
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class TextReceived:
    """A text (``body``) from ``sender`` reached the business's number ``recipient``."""

    message_id: str
    sender: str
    recipient: str
    body: str

    @property
    def key(self) -> str:
        """What makes this text handled once."""
        return f"inbound:{self.message_id}"


@dataclass(frozen=True, slots=True)
class ConversationEvent:
    """Something happened in conversation ``conversation_id``, raising ``trigger``
    (``conversation.opened``, ``agent.replied``, a timer trigger such as ``no_agent_reply``...).

    ``workflow_id``: only that workflow may start (a timer belongs to the workflow that set
    it); ``key`` makes the event start it once; ``data`` is what the run reads as
    ``{{call.*}}`` besides the contact's and our numbers.
    """

    trigger: str
    conversation_id: int
    contact: str
    business: str
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    workflow_id: str | None = None
    at: datetime | None = None
    """When it happened: the moment ``when`` is checked at (None: now). A message received
    while closed is judged closed even if its job runs after the opening."""


@dataclass(frozen=True, slots=True)
class ExternalEvent:
    """Another system reported ``name`` (``checkout.idle``) about ``contact``, to be answered
    from the business's number ``business``; ``data`` is what it sent (``{{event.data.*}}``
    and the ``data`` filter), ``key`` makes it start each workflow once.

    ``workflow_id``: only that workflow may start (an accepted event starts each of its
    workflows in a job of its own); ``at``: when it was accepted (None: now).
    """

    name: str
    contact: str
    business: str
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    workflow_id: str | None = None
    at: datetime | None = None

    @property
    def trigger(self) -> str:
        """The trigger event it raises: its name (``trigger: {event: checkout.idle}``)."""
        return self.name


StartingEvent = CallEnded | TextReceived | ConversationEvent | ExternalEvent
"""The events that start a run in a conversation (texted, not spoken)."""
