"""What a voice turn that failed or missed its deadline leaves behind.

Such a turn was answered with the apology and a hangup (``ivr/routes.py``), whatever its
code was doing at that moment. Its own write may still be under way: a cancelled request
does not take back a write already handed to the database (SQLite commits what was queued;
on PostgreSQL a transaction at its commit may still commit). So the run is closed with one
more write, :func:`close_failed_turn`, that holds whichever way the turn's write went:

* it applies to the run if it still expects the failed turn (the turn's write never
  happened, or has not yet) or expects the one after (the turn's write committed);
* it marks the run failed, stores the apology as the answer to the turn, and moves the
  expected turn past both, so a late save of the failed turn (``UPDATE ... WHERE turn =
  :expected``) misses and changes nothing;
* a repeat of the webhook is then answered from the stored turn: the apology the caller
  heard.

SQLite runs writes in the order they were queued, so the closing write comes after the
turn's; on PostgreSQL the two may meet at the run's row, where the row lock orders them and
either order ends the same. A turn's other effects committed with it (a text it queued)
stand. An incoming call whose first write never committed leaves nothing to close.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from ivr.db import calls
from workflows.db import runs

MAX_ERROR_CHARS = 2000


def close_failed_turn(
    conn: Connection,
    *,
    call_sid: str,
    run_id: str | None,
    turn: int,
    error: str,
    answer: str,
    now: datetime,
) -> str | None:
    """Close as failed the run of call ``call_sid`` (``run_id``, or the call's run) whose
    turn ``turn`` (0: the incoming call) was answered with ``answer``; the run's id if it was
    closed, else None (no such run, or it is past that turn)."""
    if run_id is None:
        run_id = conn.execute(select(calls.c.run_id).where(calls.c.sid == call_sid)).scalar()
        if run_id is None:
            return None
    closed = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.subject == call_sid, runs.c.turn.in_((turn, turn + 1)))
        .values(
            status="failed",
            error=error[:MAX_ERROR_CHARS],
            last_response=answer,
            turn=turn + 2,
            updated_at=now,
        )
    ).rowcount
    return run_id if closed else None
