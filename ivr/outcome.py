"""How a call ended, decided once from its final status and what its run went through."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def decide_outcome(call_status: str, run_status: str | None, facts: Mapping[str, Any]) -> str:
    """One word for the call log.

    ``unrouted`` no workflow took the call; ``error`` the workflow failed; ``agent`` a dial was
    answered; ``voicemail`` the caller left a recording; ``abandoned`` the caller hung up while
    the workflow waited; ``completed`` the workflow ran to its end; otherwise Twilio's final
    status (``busy``, ``no-answer``, ``failed``, ``canceled``) for calls never answered.
    """
    if run_status is None:
        return "unrouted" if call_status == "completed" else call_status
    if run_status == "failed":
        return "error"
    if facts.get("agent"):
        return "agent"
    if facts.get("recordings"):
        return "voicemail"
    if run_status == "waiting":
        return "abandoned"
    return "completed"
