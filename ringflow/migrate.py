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

from ringflow.database import Database


class SchemaMismatch(RuntimeError):
    """The database schema is not the one this code expects."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "ringflow:migrations")
    config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The revision this code expects."""
    head = _script().get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every revision this code knows (a database at another one was written by a newer
    version)."""
    return {script.revision for script in _script().walk_revisions()}


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    """The database's revision, or None for an empty database."""
    return await db.read(_current)


def _upgrade(connection: Connection) -> None:
    current = _current(connection)
    known = known_revisions()
    if current is not None and current not in known:
        raise SchemaMismatch(
            f"the database is at revision {current}, which this version of Ringflow does not "
            "know: it was written by a newer version; upgrade Ringflow"
        )
    command.upgrade(_config(connection), "head")


async def upgrade(db: Database) -> None:
    """Bring the schema to the code's revision (no-op when it is already there)."""
    await db.write(_upgrade)


async def require_current(db: Database) -> None:
    """Raise ``SchemaMismatch`` with what to do unless the schema is at the code's revision."""
    current, head = await current_revision(db), head_revision()
    if current != head:
        raise SchemaMismatch(
            f"the database schema is at revision {current or 'none (empty database)'} but this "
            f"version of Ringflow needs {head}: run `ringflow db upgrade` (or start with "
            "RINGFLOW_MIGRATE=true)"
        )
