"""How a call ended: one outcome per call, decided once, when its final status arrives.

Twilio's final status cannot say it: a call the IVR answered reads ``completed`` whether the
caller reached an agent or gave up in the queue. The outcome is decided from what the run went
through instead (its ``facts``):

``ended``        a dial was answered: the caller spoke with someone (raises ``call.ended``);
``after_hours``  nobody answered and the call came in while the workflow's ``hours`` were
                 closed (raises ``call.after_hours``);
``missed``       nobody answered although the workflow tried (a dial not answered, busy or
                 failed; the caller hanging up while it rang; a ``connect`` that reached
                 nobody, or a caller who hung up in the hold queue), or the workflow failed and the
                 caller heard an apology, or the call never got past ringing (Twilio's
                 ``busy``, ``no-answer``, ``canceled``, ``failed``) (raises ``call.missed``);
``callback``     nobody answered, and the caller asked to be called back (a ``callback`` step,
                 or 1 pressed in the hold queue, or its ``callback`` fallback): the request
                 is a durable job, so no missed-call event is raised;
``self_service`` the workflow ran to its end without trying to reach anyone (an IVR answer);
``abandoned``    the caller hung up in the menus, before any dial;
``unrouted``     no workflow took the call.

An agent reached wins over closed hours: the caller was served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from workflows.triggers import OUTCOME_EVENTS

_NEVER_CONNECTED: Final = frozenset({"busy", "no-answer", "canceled", "failed"})


def decide_outcome(call_status: str, run_status: str | None, facts: Mapping[str, Any]) -> str:
    """The call's outcome (one of ``CALL_OUTCOMES``) from its final status and its run's state."""
    if facts.get("agent"):
        return "ended"
    if facts.get("after_hours"):
        return "after_hours"
    if run_status is None:
        return "missed" if call_status in _NEVER_CONNECTED else "unrouted"
    if _asked_for_callback(facts):
        return "callback"
    tried = bool(facts.get("dials")) or bool(facts.get("ringing")) or bool(facts.get("connect"))
    if tried or run_status == "failed" or call_status in _NEVER_CONNECTED:
        return "missed"
    if run_status == "completed":
        return "self_service"
    return "abandoned"


def _asked_for_callback(facts: Mapping[str, Any]) -> bool:
    connect = facts.get("connect")
    queued = isinstance(connect, Mapping) and connect.get("result") == "callback"
    return queued or bool(facts.get("callback"))


def outcome_event(outcome: str) -> str | None:
    """The event an outcome raises (``call.missed``...), or None."""
    return OUTCOME_EVENTS.get(outcome)
