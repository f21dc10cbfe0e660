"""What the calls of a callback say and do, turn by turn: channel-neutral decisions that the
voice channel words in its own format (:mod:`ivr.callbacks`).

A placement is two legs: Ringflow calls the agent (:mod:`workflows.callbacks.job`); when they
answer they hear who is to be called back and press 1 to accept (:meth:`agent_answered`,
:meth:`agent_pressed`); the customer is then rung, and hears who is calling when they answer
(:meth:`customer_greeting`); the dial's outcome ends the placement
(:meth:`dial_finished`). The agent leg's final status ends a placement that never got to
ring the customer (:meth:`agent_leg_ended`). Every method is idempotent: a repeated or late
webhook of a placement that is not current any more changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection

from ringflow.clock import Clock
from ringflow.database import Database
from workflows.callbacks.job import OptedOut
from workflows.callbacks.requests import (
    Ended,
    Placement,
    agent_leg_outcome,
    dialed,
    end_placement,
    find_callback,
    mark_dialing,
    placement_of,
    record_agent_call,
)
from workflows.people.teams import team_by_id

__all__ = ["AgentPrompt", "CallbackService", "DialCustomer", "Goodbye"]

log = logging.getLogger(__name__)

ACCEPT_KEY: Final = "1"
ACCEPT_TIMEOUT: Final = 10
"""Seconds the agent has to press 1."""
CUSTOMER_RING: Final = 30
"""Seconds the customer's phone rings before the attempt counts as not answered."""
NOT_NEEDED: Final = "This callback is no longer needed. Goodbye."


@dataclass(frozen=True, slots=True)
class AgentPrompt:
    """Say ``text`` to the agent and wait for one key."""

    text: str
    timeout: int = ACCEPT_TIMEOUT


@dataclass(frozen=True, slots=True)
class DialCustomer:
    """Ring ``number`` showing ``caller_id``; the customer hears a greeting on answer."""

    number: str
    caller_id: str
    timeout: int = CUSTOMER_RING


@dataclass(frozen=True, slots=True)
class Goodbye:
    """Say ``text`` and hang up."""

    text: str


def spoken_number(number: str) -> str:
    """A number as it is read out: ``+14155550100`` -> ``+1 4 1 5, 5 5 5, 0 1 0 0``."""
    digits = number.lstrip("+")
    if number.startswith("+1") and len(digits) == 11:
        groups = [digits[0], digits[1:4], digits[4:7], digits[7:]]
    else:
        groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "+" + ", ".join(" ".join(group) for group in groups)


_DIAL_OUTCOMES: Final = {
    "completed": "answered",
    "answered": "answered",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "no-answer",
}


def dial_outcome(status: str) -> str:
    """A placement's outcome from the status of the dial to the customer."""
    return _DIAL_OUTCOMES.get(status, "failed")


class CallbackService:
    """The decisions of a callback's webhooks (see the module docstring)."""

    def __init__(self, db: Database, clock: Clock, *, opted_out: OptedOut | None = None) -> None:
        self._db = db
        self._clock = clock
        self._opted_out = opted_out

    async def agent_answered(
        self, callback_id: int, leg: int, call_sid: str
    ) -> AgentPrompt | Goodbye:
        """The agent picked up placement ``leg``: who to call back, press 1 to connect."""
        now = self._clock()

        def work(conn: Connection) -> Placement | None:
            placement = placement_of(conn, callback_id, leg)
            if placement is not None:
                # Kept before answering: the call's id is known even if the job that placed
                # it died before recording it.
                record_agent_call(conn, callback_id, leg, call_sid, now)
            return placement

        placement = await self._db.write(work)
        if placement is None:
            return Goodbye(NOT_NEEDED)
        return AgentPrompt(
            f"Callback for {spoken_number(placement.customer)}. "
            f"Press {ACCEPT_KEY} to connect, or hang up to pass it to someone else."
        )

    async def agent_pressed(
        self, callback_id: int, leg: int, digits: str
    ) -> DialCustomer | Goodbye:
        """The agent's answer to the prompt: 1 rings the customer (opt-out checked now)."""
        now = self._clock()

        def work(conn: Connection) -> DialCustomer | Goodbye:
            placement = placement_of(conn, callback_id, leg)
            if placement is None:
                return Goodbye(NOT_NEEDED)
            if digits != ACCEPT_KEY:
                end_placement(conn, callback_id, leg, "agent-declined", now)
                return Goodbye("The callback goes to someone else. Goodbye.")
            if self._opted_out is not None and self._opted_out(conn, placement.customer):
                end_placement(conn, callback_id, leg, "opted-out", now)
                return Goodbye("This customer asked not to be contacted. Goodbye.")
            mark_dialing(conn, callback_id, leg, now)
            return DialCustomer(placement.customer, placement.our_number)

        return await self._db.write(work)

    async def customer_greeting(self, callback_id: int) -> str:
        """What the customer hears when they answer."""
        found = await self._db.read(lambda conn: _team_name(conn, callback_id))
        who = f"the {found} team" if found else "us"
        return f"Hello, this is {who} calling you back, as you asked. Connecting you now."

    async def dial_finished(
        self, callback_id: int, leg: int, status: str, call_sid: str | None, duration: int | None
    ) -> Goodbye | None:
        """The dial to the customer ended: record the attempt; what the agent hears (None:
        nothing, the call ends)."""
        outcome = dial_outcome(status)
        now = self._clock()
        ended = await self._db.write(
            lambda conn: end_placement(
                conn,
                callback_id,
                leg,
                outcome,
                now,
                customer_call_sid=call_sid,
                duration=duration,
            )
        )
        if ended is None or outcome == "answered":
            return None
        log.info("callback %d: attempt %d: %s", callback_id, leg, outcome)
        return Goodbye(_after_attempt(ended))

    async def agent_leg_ended(self, callback_id: int, leg: int, status: str) -> None:
        """The agent leg's final status: ends a placement that never rang the customer."""
        outcome = agent_leg_outcome(status)
        if outcome is None:
            return  # not final (ringing, in-progress): nothing to do
        now = self._clock()

        def work(conn: Connection) -> Ended | None:
            if dialed(conn, callback_id, leg):
                return None  # the dial's outcome decides
            return end_placement(conn, callback_id, leg, outcome, now)

        ended = await self._db.write(work)
        if ended is not None:
            log.info("callback %d: placement %d ended: %s", callback_id, leg, outcome)


def _after_attempt(ended: Ended) -> str:
    if ended.status == "pending":
        return "The customer did not answer. We will try again later. Goodbye."
    return "The customer did not answer. That was the last attempt. Goodbye."


def _team_name(conn: Connection, callback_id: int) -> str | None:
    callback = find_callback(conn, callback_id)
    if callback is None:
        return None
    team = team_by_id(conn, callback.team_id)
    return None if team is None else team.name
