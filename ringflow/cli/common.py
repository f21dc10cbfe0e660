"""What every ``ringflow`` command shares: how a command is added, where its settings come
from (said in its help), and opening the configured database for one command."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from ringflow.database import Database
from ringflow.resources.database import open_database
from ringflow.settings import load_settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``ArgumentParser.add_subparsers()`` returns: where each command adds itself."""
SETTINGS_HELP = (
    "Settings come from flags given here, then environment variables (RINGFLOW_*, and\n"
    "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN for Twilio), then a .env file (./.env, or\n"
    "RINGFLOW_ENV_FILE), then files in RINGFLOW_SECRETS_DIR, then the TOML file\n"
    "RINGFLOW_CONFIG names. The database is RINGFLOW_DATABASE_URL, or data/ringflow.db\n"
    "under RINGFLOW_DATA_DIR. Every setting: README.md, section Configuration."
)


def add_command(
    commands: Commands,
    name: str,
    *,
    summary: str,
    description: str,
    examples: str = "",
    settings: bool = True,
) -> argparse.ArgumentParser:
    """A sub-command: ``summary`` in ``ringflow --help``, ``description`` and ``examples``
    (lines of ``$ ringflow ...``) in its own help, with where its settings come from."""
    epilog = "\n\n".join(
        part
        for part in (
            f"examples:\n{examples}" if examples else "",
            SETTINGS_HELP if settings else "",
        )
        if part
    )
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def print_from_database(table: Callable[[Database], Awaitable[str]]) -> int:
    """Open the configured database, print what ``table`` makes of it, close it."""

    async def show() -> str:
        db = await open_database(load_settings())
        try:
            return await table(db)
        finally:
            await db.close()

    print(asyncio.run(show()))
    return 0
