"""Schema migrations with Alembic, run programmatically on the server's own connection.

The server upgrades the schema at start (``RINGFLOW_MIGRATE=true``, the default) or, when told
not to, refuses to start on a schema that is not at the code's revision.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


class SchemaMismatch(RuntimeError):
    """The database schema is not the one this code expects."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "ringflow:migrations")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this code expects."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision, or None for an empty database."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the code's revision (no-op when it is already there)."""
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    current = await current_revision(engine)
    if current is not None and current not in known:
        raise SchemaMismatch(
            f"the database is at revision {current}, which this version of Ringflow does not "
            "know: it was written by a newer version; upgrade Ringflow"
        )
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), "head"))


async def require_current(engine: AsyncEngine) -> None:
    """Raise ``SchemaMismatch`` with what to do unless the schema is at the code's revision."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaMismatch(
            f"the database schema is at revision {current or 'none (empty database)'} but this "
            f"version of Ringflow needs {head}: run `ringflow db upgrade` (or start with "
            "RINGFLOW_MIGRATE=true)"
        )
