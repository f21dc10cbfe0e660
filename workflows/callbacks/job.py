"""The placing job: one per pending callback request (kind :data:`PLACE_JOB`).

When its job comes due, a pending request is placed only if, at that moment:

1. it is due (a retry waits ``retry_delay`` after an unanswered attempt);
2. its team's schedule (the team's ``schedule``, if any) is open and not in its quiet
   hours; otherwise the job is deferred to the next opening (no attempt spent);
3. an agent of the team is free (:func:`workflows.people.availability.free_agents`);
   otherwise the job is deferred with a capped backoff (:data:`WAIT_BASE` doubling up to
   :data:`WAIT_CAP`, counted in the request's ``waits``);
4. the customer's number has not opted out (checked inside the claim's transaction: the
   request then ends ``failed``).

The claim (:func:`workflows.callbacks.requests.claim_next`) takes the team's OLDEST due
pending request (workers of one team queue on its row lock, so none calls a younger one
first), which may be another one than the job's own (first come, first served
across server instances); the job then places that one and defers itself.

**Never twice.** The claim records the placement (``calling``, ``placing_at``) before the
call to the agent leaves, in a transaction of its own. A call that does not leave within
:data:`PLACE_WINDOW` of that record is not made. A clear answer records the call's id; a
clear refusal puts the request back to ``pending``; an unclear one (timeout, 5xx,
connection lost, or a worker that died before recording the id) leaves it ``calling``
without an id: the next run of the job waits until :data:`SETTLE` after ``placing_at``,
looks the call up at the provider (same agent address and caller id, created since the
placement, an id no attempt has yet) and records what it finds instead of calling again;
only when nothing is found does it place the call again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Final, Protocol

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from ringflow.clock import Clock
from ringflow.database import Database
from workflows.callbacks.db import callback_attempts
from workflows.callbacks.errors import PlacementError, PlacementRefused, PlacementUnclear
from workflows.callbacks.requests import (
    PLACE_JOB,
    Callback,
    Placement,
    claim_next,
    end_lost_placement,
    end_placement,
    find_callback,
    hold_back,
    placement_of,
    record_agent_call,
    restart_placement,
)
from workflows.jobs import ClaimedJob, FinalWrite, JobDeferred, PermanentJobError, TransientJobError
from workflows.people.db import teams

__all__ = [
    "LOOKUP_SLACK",
    "PLACE_JOB",
    "PLACE_WINDOW",
    "SETTLE",
    "WAIT_BASE",
    "WAIT_CAP",
    "CallPlacer",
    "Hours",
    "PlaceCallbackHandler",
]

log = logging.getLogger(__name__)

WAIT_BASE: Final = timedelta(seconds=15)
"""The first wait when nobody of the team is free; it doubles with every wait..."""
WAIT_CAP: Final = timedelta(minutes=2)
"""...up to this: an agent who frees up is used within this long."""
RACE_PAUSE: Final = timedelta(seconds=2)
"""How long a job waits after another worker took the agent it picked at the same moment."""
PLACE_WINDOW: Final = timedelta(seconds=3)
"""How long after a placement was recorded its call may still leave (see the docstring)."""
SETTLE: Final = timedelta(seconds=20)
"""How long after an unclear placement began it is looked up: the window, the provider's
request timeout (10 s) and a margin."""
LOOKUP_SLACK: Final = timedelta(minutes=2)
"""How much earlier than the placement a provider's creation time may be (clock skew)."""
NO_PLACER_PAUSE: Final = timedelta(minutes=5)
"""How long a callback waits when this process has no voice provider configured."""
WATCH_EVERY: Final = timedelta(minutes=10)
"""How often a placement in progress is looked at (see ``_watch``)."""
_ENDED: Final = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
CLOSED_RECHECK: Final = timedelta(hours=1)
"""When a closed team's schedule knows no next opening, it is looked at again this late."""


class CallPlacer(Protocol):
    """The voice channel's part: places the agent leg of a callback."""

    async def place(self, placement: Placement) -> str:
        """Call ``placement.agent`` with the callback's caller id; the call's id.

        Raises :class:`PlacementRefused` (nothing created) or :class:`PlacementUnclear`.
        """
        ...

    async def find(self, placement: Placement, *, since: datetime) -> list[str]:
        """The ids of calls to the placement's agent from its caller id created at or after
        ``since``, oldest first; raises :class:`PlacementError` when it cannot tell."""
        ...

    async def status(self, call_sid: str) -> str:
        """The agent leg's status now (the provider's words: ``completed``, ``no-answer``...);
        raises :class:`PlacementError` when it cannot tell."""
        ...


class Hours(Protocol):
    """The named schedules (a :class:`workflows.schedules.ScheduleBook`)."""

    def is_open(self, name: str, at: datetime) -> bool: ...

    def next_open(self, name: str, at: datetime) -> datetime | None: ...

    def quiet_until(self, name: str, at: datetime) -> datetime | None: ...


OptedOut = Callable[[Connection, str], bool]
"""Whether a number opted out of automated contact (the SMS channel's opt-out list)."""


def _after_leg(key: str) -> int | None:
    """The placement a job's key says it follows (``callback:<id>:after:<leg>``)."""
    head, _, leg = key.rpartition(":after:")
    return int(leg) if head and leg.isdigit() else None


def wait_after(waits: int) -> timedelta:
    """How long a request waits after its ``waits``-th wait for a free agent."""
    exponent = min(max(waits - 1, 0), 16)
    delay: timedelta = min(WAIT_CAP, WAIT_BASE * 2**exponent)
    return delay


@dataclass(frozen=True, slots=True)
class _Team:
    id: int
    schedule: str | None


def _known_sids(conn: Connection, sids: list[str]) -> set[str]:
    query = select(callback_attempts.c.agent_call_sid).where(
        callback_attempts.c.agent_call_sid.in_(sids)
    )
    return {str(value) for value in conn.execute(query).scalars()}


def _team(conn: Connection, team_id: int) -> _Team | None:
    row = conn.execute(select(teams.c.id, teams.c.schedule).where(teams.c.id == team_id)).first()
    return None if row is None else _Team(row.id, row.schedule)


class PlaceCallbackHandler:
    """The ``JobHandler`` of :data:`PLACE_JOB` (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        placer: CallPlacer | None,
        clock: Clock,
        *,
        hours: Callable[[], Hours],
        opted_out: OptedOut | None = None,
        settle: timedelta = SETTLE,
    ) -> None:
        self._db = db
        self._placer = placer
        self._clock = clock
        self._hours = hours
        self._opted_out = opted_out
        self._settle = settle

    async def __call__(self, job: ClaimedJob) -> FinalWrite | None:
        value = job.payload.get("callback_id")
        if isinstance(value, bool) or not isinstance(value, int):
            raise PermanentJobError(f"payload has no integer callback_id: {value!r}")
        callback = await self._db.read(lambda conn: find_callback(conn, value))
        if callback is None or callback.status in ("connected", "failed", "cancelled"):
            return None
        if self._placer is None:
            until = self._clock() + NO_PLACER_PAUSE
            raise JobDeferred(until, "no voice provider is configured to place callbacks")
        after = _after_leg(job.dedupe_key)
        if after is not None and after < callback.legs - (callback.status == "calling"):
            return None  # a newer job (queued when a later placement ended) looks after it
        if callback.status == "calling":
            if callback.agent_call_sid is None:
                await self._resolve_unclear(callback)
            await self._watch(callback.id)
            return None
        await self._place_next(callback)
        return None

    async def _place_next(self, callback: Callback) -> None:
        now = self._clock()
        if now < callback.due_at:
            raise JobDeferred(callback.due_at, f"callback {callback.id}: next attempt not due")
        team = await self._db.read(lambda conn: _team(conn, callback.team_id))
        if team is None:
            return  # the team was deleted (its requests with it)
        if team.schedule is not None:
            self._check_hours(callback, team.schedule, now)
        try:
            placement = await self._db.write(
                lambda conn: claim_next(conn, team.id, now, self._opted_out)
            )
        except IntegrityError:
            # Another worker took the agent this one picked at the same moment.
            raise JobDeferred(
                now + RACE_PAUSE, f"callback {callback.id}: raced for an agent"
            ) from None
        if placement is None:
            current = await self._db.read(lambda conn: find_callback(conn, callback.id))
            if current is None or current.status != "pending":
                return  # it failed (opted out) or was cancelled meanwhile
            waits = await self._db.write(lambda conn: hold_back(conn, callback.id, now))
            until = now + wait_after(waits)
            raise JobDeferred(until, f"callback {callback.id}: no agent of the team is free")
        await self._place(placement, now)
        if placement.callback_id != callback.id:
            raise JobDeferred(
                now + RACE_PAUSE,
                f"callback {callback.id}: placed the team's older request "
                f"{placement.callback_id} first",
            )
        raise JobDeferred(now + WATCH_EVERY, f"callback {callback.id}: placed; watched")

    def _check_hours(self, callback: Callback, schedule: str, now: datetime) -> None:
        hours = self._hours()
        if not hours.is_open(schedule, now):
            until = hours.next_open(schedule, now) or now + CLOSED_RECHECK
            raise JobDeferred(until, f"callback {callback.id}: team closed ({schedule!r})")
        quiet = hours.quiet_until(schedule, now)
        if quiet is not None:
            raise JobDeferred(quiet, f"callback {callback.id}: quiet hours of {schedule!r}")

    async def _place(self, placement: Placement, recorded_at: datetime) -> None:
        """Make the agent leg's call for a placement recorded at ``recorded_at``."""
        late = self._clock() - recorded_at
        if late > PLACE_WINDOW:
            # A later lookup trusts that a call leaves within the window: past it, none does.
            raise TransientJobError(
                f"callback {placement.callback_id}: placement {placement.leg} could not leave "
                f"within {PLACE_WINDOW.total_seconds():g} s ({late.total_seconds():.1f} s)"
            )
        assert self._placer is not None  # checked before anything was claimed
        try:
            sid = await self._placer.place(placement)
        except PlacementRefused as error:
            now = self._clock()
            await self._db.write(
                lambda conn: end_placement(
                    conn, placement.callback_id, placement.leg, "agent-failed", now
                )
            )
            log.warning(
                "callback %d: the call to agent %s was refused: %s",
                placement.callback_id,
                placement.agent.name,
                error,
            )
            return
        except PlacementUnclear as error:
            raise TransientJobError(
                f"callback {placement.callback_id}: placement {placement.leg} has no clear "
                f"outcome: {error}"
            ) from error
        now = self._clock()
        await self._db.write(
            lambda conn: record_agent_call(conn, placement.callback_id, placement.leg, sid, now)
        )
        log.info(
            "callback %d: placement %d rings agent %s (%s)",
            placement.callback_id,
            placement.leg,
            placement.agent.name,
            sid,
        )

    async def _watch(self, callback_id: int) -> None:
        """A placed call's webhooks end it; should its last status never arrive (a webhook
        lost for good), the agent would stay engaged for ever. So the job looks again every
        :data:`WATCH_EVERY` while the placement lasts and, once the provider says the agent
        leg is over, ends it as its status callback would have (or ``failed``, one attempt
        spent, when it had already rung the customer and the dial's outcome never came)."""
        callback = await self._db.read(lambda conn: find_callback(conn, callback_id))
        if callback is None or callback.status != "calling" or callback.agent_call_sid is None:
            return
        now = self._clock()
        started = callback.placing_at or callback.updated_at
        if now < started + WATCH_EVERY:
            raise JobDeferred(
                started + WATCH_EVERY, f"callback {callback_id}: placement in progress"
            )
        assert self._placer is not None
        try:
            status = await self._placer.status(callback.agent_call_sid)
        except PlacementError as error:
            raise JobDeferred(
                now + WATCH_EVERY, f"callback {callback_id}: status unknown: {error}"
            ) from error
        if status not in _ENDED:
            raise JobDeferred(now + WATCH_EVERY, f"callback {callback_id}: call {status}")
        leg = callback.legs
        ended = await self._db.write(
            lambda conn: end_lost_placement(conn, callback_id, leg, status, now)
        )
        if ended is not None:
            log.warning(
                "callback %d: placement %d ended (%s) without its last webhook: now %s",
                callback_id,
                leg,
                status,
                ended.status,
            )

    async def _resolve_unclear(self, callback: Callback) -> None:
        """A placement that has no call id: look it up, or place it again."""
        now = self._clock()
        started = callback.placing_at or callback.updated_at
        settled = started + self._settle
        if now < settled:
            raise JobDeferred(
                settled,
                f"callback {callback.id}: placement {callback.legs} had no clear outcome: "
                f"looked up from {settled}",
            )
        placement = await self._db.read(lambda conn: placement_of(conn, callback.id, callback.legs))
        if placement is None:
            return
        assert self._placer is not None
        try:
            found = await self._placer.find(placement, since=started - LOOKUP_SLACK)
        except PlacementError as error:
            raise TransientJobError(
                f"callback {callback.id}: could not look up placement {callback.legs}: {error}"
            ) from error
        if found:
            known = await self._db.read(lambda conn: _known_sids(conn, found))
            for sid in found:
                if sid not in known:
                    log.info(
                        "callback %d: placement %d had no clear outcome; the provider has it "
                        "as %s: not placed again",
                        callback.id,
                        callback.legs,
                        sid,
                    )
                    await self._db.write(
                        partial(
                            record_agent_call,
                            callback_id=callback.id,
                            leg=callback.legs,
                            call_sid=sid,
                            now=now,
                        )
                    )
                    return
        restarted = await self._db.write(
            lambda conn: restart_placement(conn, callback.id, callback.legs, now)
        )
        if not restarted:
            return
        log.info(
            "callback %d: placement %d had no clear outcome and created nothing: placing it again",
            callback.id,
            callback.legs,
        )
        await self._place(placement, now)
