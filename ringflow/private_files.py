"""Files only their owner can read: the database, prompts and uploads hold phone numbers,
messages and recordings.

What Ringflow creates is owner-only, whatever the process's umask: folders ``0700``, files
``0600``. The SQLite database file is created empty with ``0600`` before SQLite opens it,
because SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file. A long-
running server (``ringflow serve``, ``ringflow worker``) also sets its umask to ``077``, so
whatever else it or a helper it starts (ffmpeg) creates is owner-only too.

Folders and files that already exist are left as they are: a data dir an operator prepared
with other permissions keeps them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from sqlalchemy.engine import make_url

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "PRIVATE_UMASK",
    "make_private",
    "private_dir",
    "private_sqlite_file",
]

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
PRIVATE_UMASK: Final = 0o077


def private_dir(path: Path) -> Path:
    """``path`` as a folder, it and every missing parent created owner-only (``0700``)."""
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:  # another process made it meanwhile
            continue
        folder.chmod(PRIVATE_DIR)  # mkdir's mode is masked by the umask; this is not
    return path


def make_private(path: Path) -> None:
    """Make the file ``path`` owner-only (``0600``), e.g. one a converter just wrote."""
    path.chmod(PRIVATE_FILE)


def private_sqlite_file(database_url: str) -> None:
    """For a SQLite file URL whose file does not exist yet: create its folder and the file
    (empty, which SQLite reads as an empty database) owner-only. Other URLs: nothing."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if path.exists():
        return
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
    except FileExistsError:  # another process made it meanwhile
        return
    os.close(descriptor)
    path.chmod(PRIVATE_FILE)
