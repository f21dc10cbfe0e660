"""``ringflow call``: a test call from the terminal, against a running server or in-process."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TextIO

from aiohttp import web

from ivr.softphone import Softphone, TerminalCaller
from ringflow.settings import Settings

AppFactory = Callable[[Settings], web.Application]


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
