"""The database resource: opened with its schema upgraded (or checked), closed last."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ringflow.database import Database
from ringflow.database import open_database as connect
from ringflow.migrate import require_current, upgrade
from ringflow.private_files import private_dir, private_sqlite_file
from ringflow.resources.inputs import SETTINGS
from ringflow.settings import Settings

DATABASE = web.AppKey("database", Database)


def private_data_files(settings: Settings) -> None:
    """The data dir, and a SQLite database file, created owner-only if they are missing."""
    private_dir(settings.data_dir)
    private_sqlite_file(settings.database)


async def open_database(settings: Settings) -> Database:
    """The database, its schema upgraded (or checked when migrations are off); the data dir
    and a new SQLite file are made owner-only first."""
    private_data_files(settings)
    db = await connect(settings.database)
    try:
        if settings.migrate:
            await upgrade(db)
        else:
            await require_current(db)
    except BaseException:
        await db.close()
        raise
    return db


async def database(app: web.Application) -> AsyncIterator[None]:
    """``app[DATABASE]``, from ``RINGFLOW_DATABASE_URL`` (or the SQLite file in the data dir)."""
    db = await open_database(app[SETTINGS])
    app[DATABASE] = db
    try:
        yield
    finally:
        await db.close()
