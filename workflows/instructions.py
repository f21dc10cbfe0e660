"""Channel-neutral instructions that steps emit and channel renderers turn into wire formats.

Instructions are imperative and frozen. ``Gather``, ``Dial`` and ``Record`` wait for the channel
to report back; the renderer attaches the URL (or handle) that resumes the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text`` with the channel's text-to-speech."""

    text: str
    language: str | None = None
    voice: str | None = None
    loop: int = 1
    server: bool = False
    """Spoken by the server's own voice and played as audio (the channel renders it)."""


@dataclass(frozen=True, slots=True)
class Play:
    """Play the audio file at ``url`` (or of the prompt ``url`` names: ``pr_...``, which the
    channel turns into the prompt's public address)."""

    url: str
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Pause:
    """Stay silent for ``seconds``."""

    seconds: int


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    """Play ``prompts`` while collecting keypresses (and speech when ``speech_hints`` is set)."""

    prompts: tuple[Prompt, ...]
    timeout: int
    num_digits: int | None = None
    finish_on_key: str = "#"
    speech: bool = False
    speech_hints: tuple[str, ...] = ()
    language: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    """(key, label) of each option, for channels that show them (SMS: "1. Sales")."""


@dataclass(frozen=True, slots=True)
class DialTarget:
    """One party to ring: a phone number, a SIP URI or a client identity."""

    kind: Literal["number", "sip", "client"]
    address: str
    agent: str | None = None
    """The agent this endpoint belongs to (a ``connect`` step's ring): the channel reports
    when their leg answers and ends, so presence follows the call."""


@dataclass(frozen=True, slots=True)
class Dial:
    """Ring ``targets`` at once; the first to answer is connected to the caller."""

    targets: tuple[DialTarget, ...]
    timeout: int
    caller_id: str | None = None
    team: str | None = None
    """The team a ``connect`` step rings for (its wrap-up applies after the call)."""


@dataclass(frozen=True, slots=True)
class HoldQueue:
    """How callers wait for a team when nobody is free: at most ``max_wait`` seconds, told
    their place every ``announce_every`` seconds over ``hold_music`` (a prompt id or an audio
    URL; None: the server's default music); after ``max_wait`` they leave with ``fallback``
    (``voicemail`` or ``callback``)."""

    max_wait: int
    announce_every: int
    hold_music: str | None
    fallback: Literal["voicemail", "callback"]


@dataclass(frozen=True, slots=True)
class ConnectTeam:
    """Connect the caller with an agent of ``team``: the session layer turns it into a
    ``Dial`` of the agents the team's ring strategy picks (not those in ``tried``; only
    ``agent`` when a queued caller was offered to them), an ``Enqueue`` when nobody is free
    and there is a ``queue``, or ``NoAgents``."""

    team: str
    ring_timeout: int
    caller_id: str | None = None
    tried: tuple[str, ...] = ()
    agent: str | None = None
    queue: HoldQueue | None = None
    missed: str | None = None
    """An agent offered this caller from the queue who did not answer: set ``away``."""
    queue_only: bool = False
    """The rounds of ringing are used up: wait in the queue (no ``queue``: ``NoAgents``)."""


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Put the caller in ``queue`` (a team's name) to wait, as the queue's entry says (music,
    announcements, keys); the run resumes with ``QueueLeft`` when the caller leaves it."""

    queue: str


@dataclass(frozen=True, slots=True)
class NoAgents:
    """Nobody to ring: resume the run with ``AgentsUnavailable`` at once."""


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller (voicemail) after a beep."""

    max_seconds: int
    silence_timeout: int = 5
    finish_on_key: str = "#"
    play_beep: bool = True


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the conversation."""


@dataclass(frozen=True, slots=True)
class SendText:
    """Send a text message to ``to``: not part of the conversation's own channel, it is
    queued as durable work when the turn is saved. ``sender`` is the number it goes from
    (None: the number the contact called or texted)."""

    to: str
    body: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class WaitUntil:
    """Resume the run at ``at`` (aware): the channel keeps a durable timer."""

    at: datetime


@dataclass(frozen=True, slots=True)
class RecordRating:
    """Keep a survey's answer against the run's conversation (and whoever it is assigned to
    now): ``rating`` 1-5 and an optional ``comment``; ``rating`` None when the contact gave
    none (``outcome`` says why: ``invalid`` answers or a ``timeout``). Stored in the
    transaction that saves the turn; no channel renders it."""

    rating: int | None
    comment: str | None
    outcome: Literal["rated", "invalid", "timeout"]


@dataclass(frozen=True, slots=True)
class ChangeConversation:
    """Act on the run's conversation as automation, in the turn's transaction: ``action`` is a
    conversation step's kind (``reply``, ``note``, ``assign``, ``close``...), ``values`` its
    rendered parameters (see :mod:`workflows.conversations.automation`)."""

    action: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FetchUrl:
    """Make an HTTP request and resume the run with its answer (``HttpAnswered``): queued as
    a durable job when the turn is saved, made through the outbound guard
    (:mod:`ringflow.outbound`). ``body`` is JSON (None: no body)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """Record that the caller wants ``team`` to call them back (at the number they call
    from), kept in the transaction that saves the turn; no channel renders it. ``attempts``
    and ``retry_delay`` (seconds) None: the defaults of :mod:`workflows.callbacks`."""

    team: str
    attempts: int | None = None
    retry_delay: int | None = None


Instruction = (
    Say
    | Play
    | Pause
    | Gather
    | Dial
    | Record
    | Hangup
    | ConnectTeam
    | Enqueue
    | NoAgents
    | SendText
    | WaitUntil
    | RecordRating
    | ChangeConversation
    | FetchUrl
    | RequestCallback
)
WAITING_INSTRUCTIONS: tuple[type[Instruction], ...] = (
    Gather,
    Dial,
    Record,
    WaitUntil,
    ConnectTeam,
    Enqueue,
    NoAgents,
    FetchUrl,
)
