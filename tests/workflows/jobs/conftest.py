"""Fixtures for the job tests: a database with the jobs table, a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, select

from ringflow.database import Database, open_database, stored_time
from tests.clock import FrozenClock
from workflows.jobs.db import jobs

T0 = datetime.now(UTC).replace(microsecond=0)
"""When the job tests' frozen clock starts (the time the tests ran)."""


async def create_jobs_table(db: Database) -> None:
    await db.write(lambda conn: jobs.create(conn))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    await create_jobs_table(database)
    yield database
    await database.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives naive UTC back)."""
    return None if moment is None else stored_time(moment)


async def job_rows(db: Database) -> dict[int, dict[str, Any]]:
    """Every job row by id, times made aware."""

    def read(conn: Connection) -> dict[int, dict[str, Any]]:
        found = {}
        for row in conn.execute(select(jobs).order_by(jobs.c.id)).mappings():
            values = dict(row)
            for column in ("due_at", "lease_expires_at", "finished_at", "created_at"):
                values[column] = aware(values[column])
            found[int(values["id"])] = values
        return found

    return await db.read(read)


async def job_row(db: Database, job_id: int) -> dict[str, Any]:
    return (await job_rows(db))[job_id]
