"""Persisted runs: create one with its first turn, resume it turn by turn, replay answers.

Each run row holds the number of the next turn it expects and the answer it gave to the last
one. A turn is saved only if the row still expects it (``WHERE turn = :expected``), so a
webhook repeated or racing with itself is applied once; the repeat gets the stored answer.

The functions take a SQLAlchemy ``Connection`` and are run through ``ringflow.database``.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from ringflow.database import BatchConflict
from workflows.db import runs
from workflows.engine import RunState

_INSERT = runs.insert()
_SAVE_TURN = (
    update(runs)
    .where(runs.c.id == bindparam("run_id"), runs.c.turn == bindparam("expected_turn"))
    .values(
        turn=bindparam("next_turn"),
        status=bindparam("new_status"),
        state=bindparam("new_state"),
        last_response=bindparam("response"),
        error=bindparam("failure"),
        updated_at=bindparam("now"),
    )
)
_LOAD = select(
    runs.c.id,
    runs.c.version_id,
    runs.c.subject,
    runs.c.status,
    runs.c.turn,
    runs.c.state,
    runs.c.last_response,
).where(runs.c.id == bindparam("run_id"))


def new_run_id(now: datetime) -> str:
    """A fresh run id, started ``now``: 32 hex digits, 12 of the time in milliseconds, then 20
    random ones (80 bits: the id travels in webhook URLs, so it must not be guessable).

    Time first keeps new rows at the end of the primary-key index: with random ids (uuid4)
    every insert dirtied a different index page, measured at ~+90 µs of CPU per incoming
    call's write (bench/README.md, "SQLite writer and durable commits").
    """
    return f"{int(now.timestamp() * 1000) % (1 << 48):012x}{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run as stored in the database."""

    id: str
    version_id: int
    subject: str
    status: str
    turn: int
    state: dict[str, Any]
    last_response: str | None


def new_run(
    *,
    run_id: str,
    version_id: int,
    subject: str,
    state: RunState,
    response: str,
    error: str | None = None,
) -> StoredRun:
    """A run after its first turn (turn 0): it next expects turn 1.

    With ``error`` the first turn failed and the run is stored as failed.
    """
    return StoredRun(
        id=run_id,
        version_id=version_id,
        subject=subject,
        status="failed" if error else state.status,
        turn=1,
        state=state.to_json(),
        last_response=response,
    )


def run_row(
    run: StoredRun, channel: str, error: str | None = None, *, now: datetime
) -> dict[str, Any]:
    """The row that stores a new run, started at ``now``."""
    return {
        "id": run.id,
        "version_id": run.version_id,
        "channel": channel,
        "subject": run.subject,
        "status": run.status,
        "turn": run.turn,
        "state": run.state,
        "last_response": run.last_response,
        "error": error,
        "created_at": now,
        "updated_at": now,
    }


def insert_runs(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Store new runs (rows from ``run_row``), all in one statement."""
    if rows:
        conn.execute(_INSERT, rows)


def load_run(conn: Connection, run_id: str) -> StoredRun | None:
    """The run ``run_id``, or None."""
    row = conn.execute(_LOAD, {"run_id": run_id}).first()
    return None if row is None else StoredRun(*row)


Effect = Callable[[Connection], object]
"""More work for the turn's transaction (e.g. queue a text); runs only if the turn is saved."""


@dataclass(frozen=True, slots=True)
class TurnSave:
    """``run`` as it is after turn ``run.turn - 1``, taken at ``at``; ``error`` when that turn
    failed; ``effects`` to run in the same transaction once the turn is saved."""

    run: StoredRun
    at: datetime
    error: str | None = None
    effects: tuple[Effect, ...] = ()

    def params(self) -> dict[str, Any]:
        """The parameters of the conditional update."""
        return {
            "run_id": self.run.id,
            "expected_turn": self.run.turn - 1,
            "next_turn": self.run.turn,
            "new_status": self.run.status,
            "new_state": self.run.state,
            "response": self.run.last_response,
            "failure": self.error,
            "now": self.at,
        }


def save_turns(conn: Connection, saves: list[TurnSave]) -> list[bool]:
    """Store each run's new turn if its row still expects that turn; per save, whether it did.

    Several saves go in one statement when every row still expects its turn (the usual
    case); otherwise ``BatchConflict`` makes the database run them one by one, which tells
    which were already stored by another request.
    """
    params = [save.params() for save in saves]
    changed = conn.execute(_SAVE_TURN, params if len(params) > 1 else params[0]).rowcount
    if len(params) == 1:
        saved = [changed == 1]
    elif changed != len(params):
        raise BatchConflict(f"{len(params) - changed} of {len(params)} turns were already saved")
    else:
        saved = [True] * len(params)
    for save, done in zip(saves, saved, strict=True):
        for effect in save.effects if done else ():
            effect(conn)
    return saved


_END_RUN = (
    update(runs)
    .where(runs.c.id == bindparam("run_id"), runs.c.status == "waiting")
    .values(status=bindparam("new_status"), error=bindparam("failure"), updated_at=bindparam("now"))
)


def end_run(
    conn: Connection, run_id: str, status: str, error: str | None = None, *, now: datetime
) -> None:
    """Close a run that will never be resumed (failed, or its channel went away) at ``now``."""
    params = {"run_id": run_id, "new_status": status, "failure": error, "now": now}
    conn.execute(_END_RUN, params)


def next_turn(run: StoredRun, state: RunState, response: str, error: str | None) -> StoredRun:
    """``run`` after one more turn that left ``state`` and answered ``response``."""
    return replace(
        run,
        status="failed" if error else state.status,
        turn=run.turn + 1,
        state=state.to_json(),
        last_response=response,
    )


class RunCache:
    """Runs this process wrote recently, so that the next turn need not read them back.

    The database stays the judge: a stale entry (another instance served a turn) makes
    ``save_turn``'s turn check fail, and the run is then read again. Bounded, least recently
    used first out.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._runs: OrderedDict[str, StoredRun] = OrderedDict()

    def get(self, run_id: str) -> StoredRun | None:
        """The cached run, or None."""
        run = self._runs.get(run_id)
        if run is not None:
            self._runs.move_to_end(run_id)
        return run

    def put(self, run: StoredRun) -> None:
        """Remember ``run`` as just written."""
        self._runs[run.id] = run
        self._runs.move_to_end(run.id)
        while len(self._runs) > self._capacity:
            self._runs.popitem(last=False)

    def forget(self, run_id: str) -> None:
        """Drop ``run_id`` (it may be stale)."""
        self._runs.pop(run_id, None)
