"""``ringflow token``: admin API tokens, made and revoked on the server's database."""

from __future__ import annotations

import argparse
import sys

from ringflow.admin.tokens import (
    SCOPES,
    TokenNameTaken,
    create_token,
    list_tokens,
    revoke_token,
)
from ringflow.cli.common import Commands, add_command, print_from_database
from ringflow.clock import system_clock
from ringflow.database import Database


def add_to(commands: Commands) -> None:
    """Add ``token``."""
    token = add_command(
        commands,
        "token",
        summary="admin API tokens: create NAME, list, revoke NAME",
        description=(
            "Tokens for the admin API (/api) and the commands that use it (workflows,\n"
            "prompts, recipes). A new token is printed once and stored only as a hash: keep\n"
            "it. Clients send it as `Authorization: Bearer <token>`. Revoking takes effect\n"
            "at once on every server using this database. A token made with --scope\n"
            "(e.g. --scope events, for a system that sends events) may call only the\n"
            "operations open to that scope, and gets 403 everywhere else."
        ),
        examples=(
            "  $ ringflow token create alice\n"
            "  $ ringflow token create shop --scope events\n"
            "  $ ringflow token list\n"
            "  $ ringflow token revoke alice"
        ),
    )
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name", nargs="?", help="the token's name, e.g. the admin's")
    token.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help="limit the token to this scope (repeat for several); default: every operation",
    )
    token.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create, list or revoke."""

    async def act(db: Database) -> str:
        now = system_clock()
        if args.action == "create":
            try:
                token = await db.write(
                    lambda conn: create_token(conn, args.name, now, scopes=args.scope)
                )
            except (TokenNameTaken, ValueError) as error:
                raise SystemExit(f"error: {error}") from None
            return (
                f"{token}\n(token {args.name!r}: shown this once; send it as"
                " `Authorization: Bearer <token>`)"
            )
        if args.action == "revoke":
            revoked = await db.write(lambda conn: revoke_token(conn, args.name, now))
            if not revoked:
                raise SystemExit(f"error: no live token named {args.name!r}")
            return f"token {args.name!r} revoked"
        rows = await db.read(list_tokens)
        lines = [
            f"{t.name:<24} {t.prefix}...  created {t.created_at:%Y-%m-%d %H:%M}"
            + (f"  scopes: {' '.join(t.scopes)}" if t.scopes else "")
            + ("  REVOKED" if t.revoked else "")
            for t in rows
        ]
        return "\n".join(lines) or "no tokens (RINGFLOW_ADMIN_TOKEN may still be set)"

    if args.action in ("create", "revoke") and not args.name:
        print(f"error: ringflow token {args.action} needs a NAME", file=sys.stderr)
        return 2
    return print_from_database(act)
