"""When a team's hold queue is served: a durable job, written in the transaction of what
freed an agent (their call ended, they became available, a caller joined the queue).

Kept apart from :mod:`workflows.people.presence` so that :mod:`workflows.people.agents`
(which sets an agent's status) can use it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import Connection, select

from workflows.jobs import enqueue
from workflows.people.db import queue_entries, team_members

DISPATCH_JOB: Final = "routing.dispatch"
"""Serve a team's hold queue: offer its longest-waiting callers to its free agents."""


def serve_queues_of(
    conn: Connection, agent_id: int, at: datetime, *, now: datetime, key: str
) -> None:
    """Serve the hold queues of the agent's teams at ``at`` (durable jobs, once per ``key``)."""
    team_ids = conn.execute(
        select(team_members.c.team_id).where(team_members.c.agent_id == agent_id)
    ).scalars()
    for team_id in team_ids:
        serve_queue(conn, team_id, at, now=now, key=f"{key}:{team_id}")


def serve_queue(conn: Connection, team_id: int, at: datetime, *, now: datetime, key: str) -> None:
    """Serve team ``team_id``'s hold queue at ``at`` (a durable job, once per ``key``), if
    anyone waits in it."""
    waiting = conn.execute(
        select(queue_entries.c.id)
        .where(queue_entries.c.team_id == team_id, queue_entries.c.status == "waiting")
        .limit(1)
    ).first()
    if waiting is not None:
        enqueue(
            conn,
            DISPATCH_JOB,
            {"team_id": team_id},
            dedupe_key=f"dispatch:{key}",
            due_at=max(at, now),
            now=now,
        )


def agent_became_available(conn: Connection, agent_id: int, now: datetime) -> None:
    """An agent set themselves ``available``: serve the queues of their teams now."""
    serve_queues_of(conn, agent_id, now, now=now, key=f"available:{agent_id}:{now.isoformat()}")
