"""Schema migrations: the server upgrades at start, or refuses with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from ringflow.database import open_database
from ringflow.migrate import (
    SchemaMismatch,
    current_revision,
    head_revision,
    require_current,
    upgrade,
)


async def test_upgrade_creates_every_table_once(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        assert await current_revision(db) is None
        await upgrade(db)
        await upgrade(db)  # a second start changes nothing
        assert await current_revision(db) == head_revision()
        await require_current(db)
        tables = await db.read(lambda conn: set(inspect(conn).get_table_names()))
        assert {"calls", "runs", "workflows", "workflow_versions"} <= tables
    finally:
        await db.close()


async def test_an_empty_database_is_refused_when_migrations_are_off(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        with pytest.raises(SchemaMismatch, match="ringflow db upgrade"):
            await require_current(db)
    finally:
        await db.close()


async def test_a_schema_from_a_newer_version_is_refused(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        await upgrade(db)
        await db.write(
            lambda conn: conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        )
        with pytest.raises(SchemaMismatch, match="newer version"):
            await upgrade(db)
    finally:
        await db.close()


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/wal.db")
    try:
        mode = await db.read(lambda conn: conn.execute(text("PRAGMA journal_mode")).scalar())
        assert mode == "wal"
    finally:
        await db.close()


async def test_the_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ringflow.database import metadata
    from ringflow.tables import include_name  # (registers every table)

    db = await open_database(database_url)
    try:
        await upgrade(db)
        differences = await db.read(
            lambda conn: compare_metadata(
                MigrationContext.configure(conn, opts={"include_name": include_name}), metadata
            )
        )
        assert differences == []
    finally:
        await db.close()
