"""What a channel adapter gives the session service: how to word a turn, where a run lives.

Two shapes of channel exist. A *call* is request/response: each webhook is one turn whose
answer (:class:`CallAnswers`) is stored with the run, so a repeated webhook gets it again. A
*conversation* (texts, web chat) is asynchronous: a turn's instructions become durable work
(texts, timers) in the transaction that saves the turn (:class:`ConversationChannel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from workflows.conversations.model import Conversation
from workflows.engine import Turn
from workflows.instructions import Instruction
from workflows.loader import Workflow
from workflows.runs import StoredRun


class CallAnswers(Protocol):
    """How a call's channel words one turn (voice: a document of verbs, by the adapter)."""

    async def answer(
        self,
        instructions: tuple[Instruction, ...],
        workflow: Workflow,
        *,
        run_id: str,
        next_turn: int,
        finished: bool,
    ) -> str:
        """The answer to the channel: ``instructions``, resuming ``run_id`` at ``next_turn``
        when they wait."""
        ...

    def apology(self) -> str:
        """The answer when a turn failed: a short apology that ends the call."""
        ...


class TextQueue(Protocol):
    """Queues a text as durable work inside the caller's transaction."""

    def __call__(
        self,
        conn: Connection,
        *,
        to: str,
        from_: str,
        body: str,
        key: str,
        now: datetime,
        due_at: datetime | None = None,
        hours: str | None = None,
    ) -> object:
        """Record the text at ``now`` and enqueue its sending (held until ``due_at`` when
        given; the quiet hours of the schedule ``hours`` checked again when it leaves);
        nothing new for a ``key`` already used. Raises
        :class:`workflows.phones.InvalidPhoneNumber` for a ``to`` that is no phone number."""
        ...


@dataclass(frozen=True, slots=True)
class TurnDone:
    """A turn of a conversation's run, saved; for its channel to act on.

    ``turn_number`` is the number of the turn just taken; ``automated``: nobody is waiting
    for this turn's texts (a post-call event, a timer), so ``quiet_until`` holds them back
    and ``hours`` names the schedule whose quiet hours are checked again when they leave.
    """

    run: StoredRun
    turn_number: int
    turn: Turn
    now: datetime
    quiet_until: datetime | None
    hours: str | None


S = TypeVar("S")


class ConversationChannel(Protocol[S]):
    """Where runs of a conversation live on one channel (``S``: its conversation)."""

    channel: str

    def open(self, conn: Connection, business: str, contact: str, now: datetime) -> S:
        """The conversation between ``business`` and ``contact`` (opened if need be)."""
        ...

    def subject(self, conversation: S) -> str:
        """What runs record as their subject: the conversation's id."""
        ...

    def by_id(self, conn: Connection, conversation_id: int) -> S | None:
        """The conversation ``conversation_id`` (of any thread state), or None."""
        ...

    def of_conversation(self, conversation: Conversation) -> S:
        """The channel's conversation for one the caller has just read in this transaction
        (nothing is read again)."""
        ...

    def of_run(self, conn: Connection, run: StoredRun) -> S | None:
        """The conversation ``run`` belongs to."""
        ...

    def contact(self, conversation: S) -> str:
        """The contact's number."""
        ...

    def apply(self, conn: Connection, conversation: S, done: TurnDone) -> None:
        """Turn a saved turn's instructions into the channel's durable work (texts, a timer,
        the conversation waiting for a reply), in the same transaction."""
        ...
