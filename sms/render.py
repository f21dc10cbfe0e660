"""What a turn of a text conversation sends: its instructions as texts, a timer, a question.

Pure. Consecutive ``say`` texts and a menu's question go out as ONE text to the contact (a
menu reads "How can we help?\\n1. Opening hours\\n2. Talk to us"), so that they cannot arrive
out of order; a ``send_sms`` is a text of its own (to the contact, or to its ``to``). A
``wait`` step's ``WaitUntil`` becomes the moment to wake the run. Voice-only instructions
never get here (a workflow on the SMS channel cannot hold those steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workflows.instructions import Gather, Instruction, Say, SendText, WaitUntil


@dataclass(frozen=True, slots=True)
class PlannedText:
    """A text to send: ``to`` None means the contact of the conversation; ``sender`` None,
    from the conversation's number of ours."""

    body: str
    to: str | None = None
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """What one turn does on the SMS channel."""

    texts: tuple[PlannedText, ...]
    wake_at: datetime | None = None
    awaits_reply: bool = False


def menu_text(gather: Gather) -> str:
    """A menu as one text: its question, then one line per option ("1. Sales")."""
    lines = [prompt.text for prompt in gather.prompts if isinstance(prompt, Say)]
    lines.extend(f"{key}. {label}" for key, label in gather.choices)
    return "\n".join(lines)


def plan_turn(instructions: Sequence[Instruction]) -> TurnPlan:
    """The texts, the timer and whether the run now waits for the contact's reply."""
    texts: list[PlannedText] = []
    pending: list[str] = []
    wake_at: datetime | None = None
    awaits_reply = False

    def flush() -> None:
        if pending:
            texts.append(PlannedText("\n".join(pending)))
            pending.clear()

    for instruction in instructions:
        if isinstance(instruction, Say):
            pending.append(instruction.text)
        elif isinstance(instruction, Gather):
            pending.append(menu_text(instruction))
            awaits_reply = True
        elif isinstance(instruction, SendText):
            flush()
            texts.append(PlannedText(instruction.body, instruction.to, instruction.sender))
        elif isinstance(instruction, WaitUntil):
            wake_at = instruction.at
    flush()
    return TurnPlan(tuple(texts), wake_at, awaits_reply)
