"""``ringflow db``: the database schema (upgrade it, or show its revision) and backups."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ringflow.backup import run_backup_command
from ringflow.cli.common import Commands, add_command
from ringflow.database import open_database
from ringflow.migrate import current_revision, head_revision, upgrade
from ringflow.resources.database import private_data_files
from ringflow.settings import load_settings


def add_to(commands: Commands) -> None:
    """Add ``db``."""
    db = add_command(
        commands,
        "db",
        summary="database schema: upgrade, status; backup FILE (SQLite)",
        description=(
            "`upgrade` brings the database schema up to this version's (what `serve` does\n"
            "at start unless RINGFLOW_MIGRATE=false); `status` shows the database's revision\n"
            "and the code's; `backup FILE` copies a SQLite database with SQLite's online\n"
            "backup API, safe while the server runs (on PostgreSQL: use pg_dump)."
        ),
        examples=(
            "  $ ringflow db status\n  $ ringflow db upgrade\n"
            "  $ ringflow db backup /var/backups/ringflow-$(date +%F).db"
        ),
    )
    db.add_argument("action", choices=["upgrade", "status", "backup"])
    db.add_argument("file", nargs="?", type=Path, help="backup: the file to write (SQLite)")
    db.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Upgrade or show the schema's revision."""
    settings = load_settings()
    if args.action == "backup":
        return run_backup_command(settings.database, args.file)

    async def act() -> str:
        private_data_files(settings)
        db = await open_database(settings.database)
        try:
            if args.action == "upgrade":
                await upgrade(db)
            return f"database at revision {await current_revision(db)} (code: {head_revision()})"
        finally:
            await db.close()

    print(asyncio.run(act()))
    return 0
