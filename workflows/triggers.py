"""The trigger registry: which event kinds can start a workflow, and on which channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from workflows.steps.base import VOICE


@dataclass(frozen=True, slots=True)
class TriggerKind:
    """An event kind a workflow can be started by."""

    event: str
    channel: str
    summary: str


TRIGGER_KINDS: Mapping[str, TriggerKind] = {
    kind.event: kind
    for kind in (
        TriggerKind("call.incoming", VOICE, "A phone call reaches one of the business's numbers."),
    )
}
