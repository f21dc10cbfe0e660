"""The admin console's routes: the page, its static files, signing in and out.

* ``GET /console``: the page for a signed-in admin (otherwise a redirect to the sign-in
  form). The page carries the session's CSRF token; everything it shows and does goes through
  the admin API (``/api/workflows...``, ``/api/calls``, ``/api/jobs/dead``) with the session
  cookie, under the API's own rules: workflows (list, diagram, definition with line numbers,
  check and save a new version with every problem at its line, publish), the recent calls
  with their outcome and path, and the jobs that died (retry, cancel).
* ``/console/sign-in``, ``/console/sign-out``: :mod:`ringflow.admin.sign_in`, for admin tokens
  only (an agent's token opens the inbox, not this page; a token limited to scopes opens
  neither).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from aiohttp import web

from ringflow.admin.sign_in import sign_in_routes, signed_in_page
from ringflow.browser_sessions import BROWSER_SESSIONS, BrowserSession
from ringflow.inbox.routes import STATIC as INBOX_STATIC
from workflows.triggers import CALL_OUTCOMES

PREFIX: Final = "/console"
STATIC: Final = Path(__file__).resolve().parent / "static"


@functools.cache
def _page() -> str:
    """The page's HTML, read once, with the call outcomes to filter by (``{{csrf}}`` is
    filled in per session)."""
    options = "".join(
        f'<option value="{outcome}">{outcome.replace("_", " ")}</option>'
        for outcome in CALL_OUTCOMES
    )
    page = (STATIC / "console.html").read_text(encoding="utf-8")
    return page.replace("{{outcome_options}}", options)


async def _admin_session(request: web.Request) -> BrowserSession | None:
    session = await request.config_dict[BROWSER_SESSIONS].current(request)
    if session is None or session.owner.is_agent or session.owner.scopes is not None:
        return None
    return session


async def console_page(request: web.Request) -> web.StreamResponse:
    """The console for a signed-in admin; the sign-in form for anyone else."""
    session = await _admin_session(request)
    if session is None:
        raise web.HTTPSeeOther(f"{PREFIX}/sign-in")
    return signed_in_page(_page(), session.csrf)


async def sign_in_style(_request: web.Request) -> web.FileResponse:
    """The sign-in form's style sheet: the inbox's (one look for every sign-in)."""
    return web.FileResponse(INBOX_STATIC / "sign-in.css")


def routes() -> list[web.AbstractRouteDef]:
    """The console's routes, served from ``/``."""
    return [
        web.get(PREFIX, console_page),
        web.get(f"{PREFIX}/static/sign-in.css", sign_in_style),
        *sign_in_routes(
            PREFIX,
            "Ringflow console",
            "admins",
            "Paste an admin token (`ringflow token create NAME`).",
        ),
        web.static(f"{PREFIX}/static", STATIC, append_version=False),
    ]
