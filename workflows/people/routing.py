"""Which of a team's agents a call rings: a pure decision over a snapshot of the team.

An agent can be rung when they are ``available``, not on a call (nor offered a queued caller),
past the wrap-up of their last call, and have an endpoint. The team's ``ring_strategy`` orders
and picks among them:

``ring_all``      every free agent at once (the first to answer takes the call), longest idle
                  first when there are more than :data:`MAX_RING` of them;
``round_robin``   one agent: the member a call to the team rang longest ago (never first);
``longest_idle``  one agent: the one whose last call (and wrap-up) ended longest ago (never
                  on a call first).

Ties go by name, so the choice is the same on every server instance. The snapshot is read in
one query (:func:`workflows.people.presence.team_snapshot`, only the members who could take
a call); deciding for a team of 200 costs 0.1-0.5 ms (``bench/routing.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from workflows.people.agents import AgentStatus, Endpoint

RingStrategy = Literal["ring_all", "round_robin", "longest_idle"]
RING_STRATEGIES: Final[tuple[RingStrategy, ...]] = ("ring_all", "round_robin", "longest_idle")
MAX_RING: Final = 10
"""At most this many agents ring at once (a voice channel dials at most ten parties)."""


@dataclass(frozen=True, slots=True)
class Member:
    """A team member as routing sees them. Times are aware (UTC)."""

    agent_id: int
    name: str
    status: AgentStatus
    endpoints: tuple[Endpoint, ...]
    on_call: str | None = None
    """The call they are on or were offered; None: free."""
    busy_until: datetime | None = None
    """The end of their last call's wrap-up."""
    last_rung_at: datetime | None = None

    def free(self, now: datetime, call: str | None = None) -> bool:
        """Whether a call can ring them now; ``call`` is the caller's call, which an agent
        offered that very caller (``on_call`` names it) is free for."""
        return (
            self.status == "available"
            and bool(self.endpoints)
            and (self.on_call is None or self.on_call == call)
            and (self.busy_until is None or self.busy_until <= now)
        )


@dataclass(frozen=True, slots=True)
class TeamSnapshot:
    """A team and its members, read at one moment."""

    team_id: int
    name: str
    ring_strategy: RingStrategy
    wrap_up: int
    members: tuple[Member, ...]


def _idle_order(member: Member) -> tuple[bool, float, str]:
    at = member.busy_until
    return (at is not None, 0.0 if at is None else at.timestamp(), member.name)


def _rung_order(member: Member) -> tuple[bool, float, str]:
    at = member.last_rung_at
    return (at is not None, 0.0 if at is None else at.timestamp(), member.name)


def _ring_all(free: Sequence[Member]) -> tuple[Member, ...]:
    if len(free) <= MAX_RING:
        return tuple(sorted(free, key=lambda m: m.name))
    return tuple(sorted(free, key=_idle_order)[:MAX_RING])


def _round_robin(free: Sequence[Member]) -> tuple[Member, ...]:
    return (min(free, key=_rung_order),)


def _longest_idle(free: Sequence[Member]) -> tuple[Member, ...]:
    return (min(free, key=_idle_order),)


PICKERS: Final[Mapping[RingStrategy, Callable[[Sequence[Member]], tuple[Member, ...]]]] = {
    "ring_all": _ring_all,
    "round_robin": _round_robin,
    "longest_idle": _longest_idle,
}
"""Every ring strategy, by the name a team's ``ring_strategy`` gives."""


def free_members(
    team: TeamSnapshot, now: datetime, *, call: str | None = None, tried: Sequence[str] = ()
) -> list[Member]:
    """The members a call could ring now, but those in ``tried``."""
    skip = frozenset(tried)
    return [m for m in team.members if m.name not in skip and m.free(now, call)]


def agents_to_ring(
    team: TeamSnapshot,
    now: datetime,
    *,
    call: str | None = None,
    tried: Sequence[str] = (),
    only: str | None = None,
) -> tuple[Member, ...]:
    """Who the call rings now (empty: nobody is free). ``only`` names the one agent a queued
    caller was offered to; ``tried`` those already rung for this call."""
    if only is not None:
        # Offered by name, the agent rings even if they missed this call before: they are
        # free again. (Skipping them put the caller back in the queue, which offered them the
        # same agent at once, again and again.)
        return tuple(m for m in free_members(team, now, call=call) if m.name == only)
    free = free_members(team, now, call=call, tried=tried)
    if not free:
        return ()
    return PICKERS[team.ring_strategy](free)
