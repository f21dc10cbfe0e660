"""``ringflow db backup FILE``: a consistent copy of a SQLite database, safe while servers run.

SQLite's online backup API (``sqlite3.Connection.backup``) copies the database as one read
transaction: in WAL mode that is a snapshot, and the server keeps writing meanwhile (readers and
the writer do not block each other). The copy is written beside FILE under a temporary name,
checked (``PRAGMA quick_check``), synced and then renamed over FILE, so FILE is always either
the previous backup or a complete new one, never half written. It is created owner-only, like
the database: it holds every number and message.

PostgreSQL is refused with the command to use instead (``pg_dump``): its own tools make
consistent dumps and know its versions.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from ringflow.database import BUSY_TIMEOUT_MS, database_url

_SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupRefused(Exception):
    """The backup cannot be made; the message says why and what to do instead."""


@dataclass(frozen=True, slots=True)
class BackupMade:
    """What was copied where."""

    source: Path
    target: Path
    size: int


def _sqlite_path(url: URL) -> Path:
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupRefused(f"cannot back up the SQLite database {name or '(in memory)'!r}")
    return Path(name).resolve()


def pg_dump_hint(url: URL) -> str:
    """The ``pg_dump`` command for a PostgreSQL URL, its password left out."""
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    shown = plain.render_as_string(hide_password=False)
    return f"pg_dump --format=custom --file FILE '{shown}'"


def backup_database(url: str, target: Path) -> BackupMade:
    """Copy the SQLite database at ``url`` to ``target`` (replaced atomically if it exists).

    Raises ``BackupRefused`` for PostgreSQL, a missing database, or a target that is the
    database itself; ``sqlite3.Error`` if the copy fails (``target`` is then left as it was).
    """
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupRefused(
            "ringflow db backup copies SQLite databases; for PostgreSQL use its own tool,"
            f" e.g. {pg_dump_hint(parsed)} (docs/deployment.md, Backups)"
        )
    source = _sqlite_path(parsed)
    if not source.is_file():
        raise BackupRefused(f"there is no database at {source}")
    target = target.resolve()
    own_files = {source, *(source.with_name(source.name + end) for end in _SIDE_FILES)}
    if target in own_files:
        raise BackupRefused(f"{target} is the database itself (or one of its files)")
    if not target.parent.is_dir():
        raise BackupRefused(f"{target.parent} is not a folder")
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)  # mkstemp made it 0600; sqlite3 opens it by name
    try:
        _copy(source, Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(target.parent)
    return BackupMade(source, target, target.stat().st_size)


def _copy(source: Path, temporary: Path) -> None:
    # A plain connection (not read-only): in WAL mode a reader may need to create the -shm
    # file when no server has the database open.
    origin = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        copy = sqlite3.connect(temporary)
        try:
            origin.backup(copy)  # all pages in one step: one snapshot, writers carry on
            # A standalone file: no -wal beside it to lose when it is copied elsewhere.
            copy.execute("PRAGMA journal_mode=DELETE")
            verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check: {verdict}")
        finally:
            copy.close()
    finally:
        origin.close()
    with temporary.open("rb") as written:
        os.fsync(written.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX: sync the folder's entry)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def run_backup_command(url: str, target: Path | None) -> int:
    """``ringflow db backup FILE``: print what was copied; its exit status (2 if refused)."""
    if target is None:
        print("error: ringflow db backup needs a FILE to write", file=sys.stderr)
        return 2
    try:
        made = backup_database(url, target)
    except BackupRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except sqlite3.Error as error:
        print(f"error: the backup failed ({error}); {target} was left as it was", file=sys.stderr)
        return 1
    print(f"backed up {made.source} to {made.target} ({made.size} bytes)")
    return 0
