"""``ringflow call``: a test call from the terminal, against a running server or in-process."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from aiohttp import web

from ivr.softphone import Softphone, TerminalCaller
from ringflow.cli.common import Commands, add_command
from ringflow.logs import configure_logging
from ringflow.settings import Settings, load_settings
from server import create_app

AppFactory = Callable[[Settings], web.Application]


def add_to(commands: Commands) -> None:
    """Add ``call``."""
    call = add_command(
        commands,
        "call",
        summary="place a test call: hear the IVR, press keys",
        description=(
            "Play Twilio's part in a call, in the terminal: prints what the caller would\n"
            "hear, asks for the keys to press, and for the outcome of dials and recordings.\n"
            "Without --url the server runs in this process, on the configured database."
        ),
        examples=(
            "  $ ringflow call                                # the demo workflow, in-process\n"
            "  $ ringflow call --url http://127.0.0.1:8080 --to +15005550001"
        ),
    )
    call.add_argument("--from", dest="caller", default="+15005550006", help="caller number")
    call.add_argument("--to", dest="called", default="+15005550001", help="number called")
    call.add_argument("--url", help="server base URL (default: run the server in-process)")
    call.add_argument(
        "--flows", type=Path, metavar="DIR", help="in-process only: folder of workflow files"
    )
    call.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Place the call; its exit status."""
    settings = load_settings(flows_dir=args.flows)
    configure_logging("WARNING", [settings.auth_token or ""])
    return asyncio.run(place_call(settings, args, create_app, sys.stdin, sys.stdout))


async def place_call(
    settings: Settings,
    args: argparse.Namespace,
    create_app: AppFactory,
    stdin: TextIO,
    stdout: TextIO,
) -> int:
    """Place one call; exit status 0 unless the server answered with something unplayable."""
    caller = TerminalCaller(stdin, stdout)
    runner: web.AppRunner | None = None
    base_url = args.url
    if base_url is None:
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base_url = f"http://{host}:{port}"
    try:
        phone = Softphone(base_url, auth_token=settings.auth_token, public_url=settings.public_url)
        print(f"Calling {args.called} from {args.caller} via {base_url}", file=stdout)
        result = await phone.call(caller, from_=args.caller, to=args.called)
    finally:
        if runner is not None:
            await runner.cleanup()
    print(f"Call {result.call_sid} ended ({result.ended_by}), {result.duration}s", file=stdout)
    return 1 if result.ended_by == "error" else 0
