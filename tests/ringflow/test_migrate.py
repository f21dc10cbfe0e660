"""Schema migrations: the server upgrades at start, or refuses with what to do."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from ringflow.database import create_engine
from ringflow.migrate import (
    SchemaMismatch,
    current_revision,
    head_revision,
    require_current,
    upgrade,
)


async def test_upgrade_creates_every_table_once(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        await upgrade(engine)  # a second start changes nothing
        assert await current_revision(engine) == head_revision()
        await require_current(engine)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert {"calls", "runs", "workflows", "workflow_versions"} <= tables
    finally:
        await engine.dispose()


async def test_an_empty_database_is_refused_when_migrations_are_off(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with pytest.raises(SchemaMismatch, match="ringflow db upgrade"):
            await require_current(engine)
    finally:
        await engine.dispose()


async def test_a_schema_from_a_newer_version_is_refused(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaMismatch, match="newer version"):
            await upgrade(engine)
    finally:
        await engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    import asyncio

    async def journal_mode() -> str:
        engine = create_engine(f"sqlite:///{tmp_path}/wal.db")
        try:
            async with engine.connect() as conn:
                return str((await conn.execute(text("PRAGMA journal_mode"))).scalar())
        finally:
            await engine.dispose()

    assert asyncio.run(journal_mode()) == "wal"
