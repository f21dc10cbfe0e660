"""The inbox's routes: the page, its static files, its live stream, and signing in and out.

* ``GET /inbox``: the page for a signed-in agent (otherwise a redirect to the sign-in form).
  The page carries the session's CSRF token; everything it shows and does goes through the
  conversations API (``/api/conversations...``, ``/api/me``) with the session cookie.
* ``GET /inbox/live``: Server-Sent Events: ``ready`` once connected, then ``changed`` with
  ``{"ids": [...], "everything": false, "texts": false}`` whenever conversations change on
  any server instance (``texts``: a text was recorded or changed status: re-read the open
  conversation); ``typing`` with ``{"ids": [...]}``: the chat conversations whose visitor is
  typing now, on any instance (never stored; the page shows it for a few seconds); a comment
  line every :data:`HEARTBEAT_S` seconds keeps proxies from closing it; it ends when the
  session does.
* ``/inbox/sign-in``, ``/inbox/sign-out``: :mod:`ringflow.admin.sign_in`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from pathlib import Path
from typing import Final

from aiohttp import web

from ringflow.admin.sign_in import sign_in_routes, signed_in_page
from ringflow.browser_sessions import BROWSER_SESSIONS, BrowserSession
from ringflow.inbox.live import InboxLive

PREFIX: Final = "/inbox"
STATIC: Final = Path(__file__).resolve().parent / "static"
HEARTBEAT_S: Final = 20.0
INBOX_LIVE = web.AppKey("inbox_live", InboxLive)


@functools.cache
def _page() -> str:
    """The page's HTML, read once (``{{csrf}}`` filled in per session)."""
    return (STATIC / "inbox.html").read_text(encoding="utf-8")


async def _session(request: web.Request) -> BrowserSession | None:
    session = await request.config_dict[BROWSER_SESSIONS].current(request)
    if session is None or not session.owner.is_agent:
        return None
    return session


async def inbox_page(request: web.Request) -> web.StreamResponse:
    session = await _session(request)
    if session is None:
        raise web.HTTPSeeOther(f"{PREFIX}/sign-in")
    return signed_in_page(_page(), session.csrf)


async def live(request: web.Request) -> web.StreamResponse:
    session = await _session(request)
    if session is None:
        raise web.HTTPUnauthorized(text="sign in at /inbox/sign-in")
    sessions, hub = request.config_dict[BROWSER_SESSIONS], request.config_dict[INBOX_LIVE]
    secret = sessions.secret_of(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: do not hold events back
        }
    )
    await response.prepare(request)
    listener = hub.join()
    try:
        await response.write(b"retry: 2000\nevent: ready\ndata: {}\n\n")
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await listener.ready.wait()
            if listener.closed:
                break
            if not listener.ready.is_set():
                # Quiet for a while: is the session still live? Then keep the line open.
                if secret is None or not await sessions.still_live(secret):
                    break
                await response.write(b": ping\n\n")
                continue
            typing = listener.take_typing()
            everything, ids, texts = listener.take()
            if typing:
                data = json.dumps({"ids": typing})
                await response.write(f"event: typing\ndata: {data}\n\n".encode())
            if everything or ids or texts:
                data = json.dumps({"ids": ids, "everything": everything, "texts": texts})
                await response.write(f"event: changed\ndata: {data}\n\n".encode())
    except ConnectionResetError:
        pass  # the page went away
    finally:
        hub.leave(listener)
    return response


def routes() -> list[web.AbstractRouteDef]:
    """The inbox's routes, served from ``/``."""
    return [
        web.get(PREFIX, inbox_page),
        web.get(f"{PREFIX}/live", live),
        *sign_in_routes(
            PREFIX,
            "Ringflow inbox",
            "agents",
            "Paste your agent token (an admin makes it with `ringflow agents token NAME`).",
        ),
        web.static(f"{PREFIX}/static", STATIC, append_version=False),
    ]


async def close_streams(app: web.Application) -> None:
    """``on_shutdown``: end the open live streams, so that stopping does not wait for them."""
    hub = app.get(INBOX_LIVE)
    if hub is not None:
        hub.close()
