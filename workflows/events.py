"""Channel-neutral events, parsed at the edge from wire input (past tense, frozen).

``CallStarted`` starts runs; the ``Reply`` events resume a run that waits for its channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    """A recording ended; ``url`` is empty when nothing was recorded."""

    url: str = ""
    duration: int = 0


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The time a ``wait`` step asked for has come."""


Reply = DigitsReceived | InputTimedOut | DialFinished | RecordingFinished | TimerFired
