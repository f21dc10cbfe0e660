"""The chat fan-out benchmark's baseline: a bare aiohttp WebSocket server in its own process.

What pushing a frame to one of many open sockets costs aiohttp itself, with nothing of
Ringflow's (no visitor ids, no database, no live hub, no workflow):

* ``GET /chat/socket``: a WebSocket (heartbeat and frame limit as Ringflow's chat socket).
  The client's first frame is its hello (any JSON); the server names the socket with a new
  random id, answers ``{"type": "welcome", "visitor": <id>}`` and a greeting ``{"type":
  "message", "id", "from": "bot", "text"}`` (as Ringflow's ``chat.started`` workflow would),
  then reads until the socket closes.
* ``POST /push/{visitor}`` with ``{"body": <text>}``: sends ``{"type": "message", "id",
  "from": "agent", "text": <text>}`` on that visitor's socket and answers ``201`` with the
  frame's id (``404`` when no such socket is open). The frame goes out before the answer,
  like a Ringflow reply whose message is announced when its transaction commits.

Usage: ``python -m bench.chat_baseline --port PORT`` (127.0.0.1), until SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import sys
from collections.abc import Sequence

from aiohttp import WSMsgType, web

from bench.harness import HOST

SOCKET_PATH = "/chat/socket"
PUSH_PATH = "/push"
GREETING = "Hi! Welcome to the bench."
HEARTBEAT_SECONDS = 25.0
"""As Ringflow's chat socket (:data:`chat.routes.HEARTBEAT_SECONDS`): same timers per socket."""
MAX_FRAME_BYTES = 16 * 1024

SOCKETS: web.AppKey[dict[str, web.WebSocketResponse]] = web.AppKey("sockets", dict)


def make_app() -> web.Application:
    """The baseline app: open sockets by id, a push endpoint."""
    app = web.Application()
    app[SOCKETS] = {}
    ids = itertools.count(1)

    async def socket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        hello = await ws.receive()
        if hello.type != WSMsgType.TEXT:
            return ws
        visitor = secrets.token_urlsafe(16)
        request.app[SOCKETS][visitor] = ws
        try:
            await ws.send_json({"type": "welcome", "visitor": visitor})
            greeting = {"type": "message", "id": next(ids), "from": "bot", "text": GREETING}
            await ws.send_json(greeting)
            async for _frame in ws:
                pass  # the benchmark's clients send nothing more
        finally:
            del request.app[SOCKETS][visitor]
        return ws

    async def push(request: web.Request) -> web.Response:
        ws = request.app[SOCKETS].get(request.match_info["visitor"])
        if ws is None:
            raise web.HTTPNotFound(text="no such socket")
        body = await request.json()
        frame_id = next(ids)
        await ws.send_json(
            {"type": "message", "id": frame_id, "from": "agent", "text": body["body"]}
        )
        return web.json_response({"id": frame_id}, status=201, dumps=json.dumps)

    app.router.add_get(SOCKET_PATH, socket)
    app.router.add_post(PUSH_PATH + "/{visitor}", push)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the baseline on 127.0.0.1 until SIGTERM / SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m bench.chat_baseline", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(
        make_app(), host=HOST, port=args.port, access_log=None, print=None, handle_signals=True
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
