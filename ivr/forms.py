"""Parse Twilio voice webhook forms into typed values and neutral events. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from ivr.twiml import WaitKind
from workflows.events import (
    AgentsUnavailable,
    DialFinished,
    DialStatus,
    DigitsReceived,
    InputTimedOut,
    QueueLeft,
    RecordingFinished,
    Reply,
)

RUNG: Final = "ringflow:rung"
"""The form key the agents a ``connect`` step rang arrive under (from the action's query)."""
OFFERED: Final = "ringflow:agent"
"""The form key the agent a queued caller is offered to arrives under (the redirect's query)."""
_QUEUE_RESULTS: Mapping[str, Literal["left", "hangup", "error"]] = {
    "leave": "left",
    "hangup": "hangup",
    "bridged": "hangup",
    "queue-full": "error",
    "error": "error",
    "system-error": "error",
}

# Twilio's CallStatus values in the order a call moves through them; the last five are final.
CALL_STATUS_ORDER = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
FINAL_STATUSES = frozenset(CALL_STATUS_ORDER[4:])

_DIAL_STATUSES: Mapping[str, DialStatus] = {
    "completed": "answered",
    "answered": "answered",
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "failed",
}


class FormError(ValueError):
    """A webhook form lacks a field Twilio always sends, or has a bad value."""


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise FormError(f"missing form field {name}")
    return value


def _int(form: Mapping[str, str], name: str) -> int:
    raw = form.get(name, "").strip()
    try:
        return max(0, int(raw)) if raw else 0
    except ValueError:
        raise FormError(f"form field {name} is not a whole number: {raw[:20]!r}") from None


@dataclass(frozen=True, slots=True)
class CallFields:
    """The fields every voice webhook carries about the call."""

    sid: str
    caller: str
    called: str
    account_sid: str | None
    status: str

    @classmethod
    def parse(cls, form: Mapping[str, str]) -> CallFields:
        """Read the call's fields; ``From``/``To`` may be empty for anonymous or SIP calls."""
        return cls(
            sid=_required(form, "CallSid"),
            caller=form.get("From", "").strip() or "anonymous",
            called=form.get("To", "").strip() or "unknown",
            account_sid=form.get("AccountSid") or None,
            status=form.get("CallStatus", "").strip().lower() or "in-progress",
        )


def parse_reply(wait: WaitKind, form: Mapping[str, str]) -> Reply:
    """The event behind an action request for a ``wait`` instruction."""
    if wait == "gather":
        digits = form.get("Digits", "").strip()
        speech = form.get("SpeechResult", "").strip()
        return DigitsReceived(digits, speech) if digits or speech else InputTimedOut()
    if wait == "dial":
        raw = _required(form, "DialCallStatus").lower()
        status = _DIAL_STATUSES.get(raw)
        if status is None:
            raise FormError(f"unknown DialCallStatus {raw[:20]!r}")
        rung = tuple(name for name in form.get(RUNG, "").split(",") if name)
        return DialFinished(status=status, duration=_int(form, "DialCallDuration"), rung=rung)
    if wait == "connect":
        return AgentsUnavailable()
    if wait == "queue":
        agent = form.get(OFFERED, "").strip()
        if agent:
            return QueueLeft("offered", agent=agent)
        result = form.get("QueueResult", "").strip().lower()
        return QueueLeft(_QUEUE_RESULTS.get(result, "error"))
    url = form.get("RecordingUrl", "").strip()
    return RecordingFinished(url=url, duration=_int(form, "RecordingDuration") if url else 0)


def status_rank(status: str) -> int:
    """Position of ``status`` in a call's life; unknown statuses rank lowest."""
    try:
        return CALL_STATUS_ORDER.index(status)
    except ValueError:
        return -1
