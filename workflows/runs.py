"""Persisted runs: create one with its first turn, resume it turn by turn, replay answers.

Each run row holds the number of the next turn it expects and the answer it gave to the last
one. A turn is saved only if the row still expects it (``WHERE turn = :expected``), so a
webhook repeated or racing with itself is applied once; the repeat gets the stored answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflows.db import runs
from workflows.engine import RunState


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run as read from the database."""

    id: str
    version_id: int
    subject: str
    status: str
    turn: int
    state: dict[str, Any]
    last_response: str | None


async def insert_run(
    conn: AsyncConnection,
    *,
    run_id: str,
    version_id: int,
    channel: str,
    subject: str,
    state: RunState,
    response: str,
    error: str | None = None,
) -> None:
    """Store a new run after its first turn (turn 0); it next expects turn 1.

    With ``error`` the first turn failed and the run is stored as failed.
    """
    now = datetime.now(UTC)
    await conn.execute(
        runs.insert().values(
            id=run_id,
            version_id=version_id,
            channel=channel,
            subject=subject,
            status="failed" if error else state.status,
            turn=1,
            state=state.to_json(),
            last_response=response,
            error=error,
            created_at=now,
            updated_at=now,
        )
    )


async def load_run(db: AsyncEngine | AsyncConnection, run_id: str) -> StoredRun | None:
    """The run ``run_id``, or None."""
    query = select(
        runs.c.id,
        runs.c.version_id,
        runs.c.subject,
        runs.c.status,
        runs.c.turn,
        runs.c.state,
        runs.c.last_response,
    ).where(runs.c.id == run_id)
    if isinstance(db, AsyncConnection):
        row = (await db.execute(query)).first()
    else:
        async with db.connect() as conn:
            row = (await conn.execute(query)).first()
    return None if row is None else StoredRun(*row)


async def save_turn(
    conn: AsyncConnection,
    run_id: str,
    expected_turn: int,
    state: RunState,
    response: str,
    error: str | None = None,
) -> bool:
    """Store the outcome of turn ``expected_turn``; False if another request stored it first.

    With ``error`` the turn failed: the run is closed as failed, its last good state kept.
    """
    result = await conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.turn == expected_turn)
        .values(
            turn=expected_turn + 1,
            status="failed" if error else state.status,
            state=state.to_json(),
            last_response=response,
            error=error,
            updated_at=datetime.now(UTC),
        )
    )
    return result.rowcount == 1


async def end_run(
    conn: AsyncConnection, run_id: str, status: str, error: str | None = None
) -> None:
    """Close a run that will never be resumed (failed, or its channel went away)."""
    await conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "waiting")
        .values(status=status, error=error, updated_at=datetime.now(UTC))
    )
