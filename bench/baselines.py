"""The webhook benchmark's two baseline servers, each a plain aiohttp app in its own process.

* ``fixed``: one POST handler on ``/twilio/voice`` reads the form and answers a fixed TwiML
  string (the demo's first menu, built once at start-up): what aiohttp itself costs.
* ``menu``: the same handler builds that menu with twilio's ``VoiceResponse`` on every request,
  with a new run id in its action URLs, as a Twilio app without a database would; no
  signature check, no database.

Both answer the document Ringflow answers a new call of the demo workflow with (the action
URLs absolute on ``--public-url``, as Ringflow makes them when its public URL is set); the test
of this module holds them to that.

Usage: ``python -m bench.baselines {fixed,menu} --port PORT --public-url URL`` (127.0.0.1).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from bench.harness import HOST, VOICE_PATH

GREETING = "Thank you for calling Acme. This is the Ringflow demo line."
MENU = (
    "For our opening hours, press 1. For our address, press 2. "
    "To speak with someone, press 0. To leave a message, press 9."
)
HINTS = "hours, open, address, where, person, agent, operator, message, voicemail"
LANGUAGE = "en-US"
KINDS = ("fixed", "menu")


def gather_url(public_url: str, run_id: str) -> str:
    """The action URL of the menu's Gather for run ``run_id`` (turn 1), as Ringflow makes it."""
    return f"{public_url}{VOICE_PATH}/runs/{run_id}/1/gather"


def menu_twiml(action_url: str) -> str:
    """The demo workflow's first answer, built with twilio's ``VoiceResponse``."""
    response = VoiceResponse()
    response.say(GREETING, language=LANGUAGE)
    gather = response.gather(
        action=action_url,
        method="POST",
        timeout=6,
        action_on_empty_result=True,
        language=LANGUAGE,
        num_digits=1,
        input="dtmf speech",
        hints=HINTS,
        speech_timeout="auto",
    )
    gather.say(MENU, language=LANGUAGE)
    response.redirect(action_url, method="POST")
    return str(response)


def fixed_app(public_url: str) -> web.Application:
    """Baseline 1: read the form, answer a fixed TwiML string."""
    twiml = menu_twiml(gather_url(public_url, "0" * 32))

    async def answer(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=twiml, content_type="text/xml")

    return _app(answer)


def menu_app(public_url: str) -> web.Application:
    """Baseline 2: read the form, build the menu with ``VoiceResponse`` for a new run id."""

    async def answer(request: web.Request) -> web.Response:
        await request.post()
        twiml = menu_twiml(gather_url(public_url, secrets.token_hex(16)))
        return web.Response(text=twiml, content_type="text/xml")

    return _app(answer)


def _app(answer: Callable[[web.Request], Awaitable[web.Response]]) -> web.Application:
    app = web.Application()
    app.router.add_post(VOICE_PATH, answer)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one baseline on 127.0.0.1 until SIGTERM / SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-url", required=True, help="base of the action URLs")
    args = parser.parse_args(argv)
    make = fixed_app if args.kind == "fixed" else menu_app
    web.run_app(
        make(args.public_url.rstrip("/")),
        host=HOST,
        port=args.port,
        access_log=None,
        print=None,
        handle_signals=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
