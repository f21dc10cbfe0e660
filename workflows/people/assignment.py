"""How a team picks the agent for a conversation: one function per strategy, in one table.

Only members who are ``available`` and have fewer open conversations than their
``max_open`` are eligible. ``round_robin`` takes the eligible member the team gave a
conversation longest ago (never first, then by id); ``least_busy`` the one with the fewest
open conversations (ties: round-robin order). The chosen member's ``last_assigned_at`` is set,
in the caller's transaction. No eligible member: None (the conversation stays with the team).

On PostgreSQL the team's members are locked while one is picked, so two conversations
assigned at once do not both go to the same "longest waiting" member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, func, select, update

from ringflow.database import stored_time
from workflows.conversations.db import conversations
from workflows.people.db import agents, team_members
from workflows.people.teams import Strategy


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eligible member of a team."""

    agent_id: int
    open_conversations: int
    last_assigned_at: datetime | None

    def turn(self) -> tuple[bool, float, int]:
        """Round-robin order: never assigned first, then assigned longest ago, then by id."""
        at = self.last_assigned_at
        waited = 0.0 if at is None else stored_time(at).timestamp()
        return (at is not None, waited, self.agent_id)


def _round_robin(candidates: list[Candidate]) -> Candidate:
    return min(candidates, key=Candidate.turn)


def _least_busy(candidates: list[Candidate]) -> Candidate:
    return min(candidates, key=lambda c: (c.open_conversations, c.turn()))


STRATEGIES: Final[Mapping[Strategy, Callable[[list[Candidate]], Candidate]]] = {
    "round_robin": _round_robin,
    "least_busy": _least_busy,
}
"""Every assignment strategy, by the name a team's ``strategy`` gives."""


def candidates(conn: Connection, team_id: int) -> list[Candidate]:
    """The team's members who can take a conversation now."""
    open_count = (
        select(func.count())
        .select_from(conversations)
        .where(
            conversations.c.assignee_agent_id == agents.c.id,
            conversations.c.status != "closed",
        )
        .scalar_subquery()
    )
    query = (
        select(agents.c.id, agents.c.max_open, team_members.c.last_assigned_at, open_count)
        .join(team_members, team_members.c.agent_id == agents.c.id)
        .where(team_members.c.team_id == team_id, agents.c.status == "available")
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=team_members)
    found = []
    for agent_id, max_open, last_assigned_at, busy in conn.execute(query).all():
        if busy < max_open:
            found.append(Candidate(agent_id, busy, last_assigned_at))
    return found


def pick_agent(conn: Connection, team_id: int, strategy: Strategy, now: datetime) -> int | None:
    """The agent the team's ``strategy`` gives the next conversation to, or None."""
    eligible = candidates(conn, team_id)
    if not eligible:
        return None
    chosen = STRATEGIES[strategy](eligible)
    conn.execute(
        update(team_members)
        .where(team_members.c.team_id == team_id, team_members.c.agent_id == chosen.agent_id)
        .values(last_assigned_at=now)
    )
    return chosen.agent_id
