"""Signing in to one of Ringflow's pages with a token, and signing out.

:func:`sign_in_routes` gives a page its three routes under its own prefix (``/inbox``; the
admin console will use ``/console``):

* ``GET  PREFIX/sign-in``: a small form asking for the token;
* ``POST PREFIX/sign-in``: the token (form field ``token``) exchanged for a session cookie
  (:mod:`ringflow.browser_sessions`), then a redirect (303) to the page. Only a request whose
  ``Origin`` is this server is taken (no other site can sign a browser in to an account of
  its choosing). A wrong token answers the form again (401); wrong tokens count against the
  client's address exactly as on the API (:class:`ringflow.admin.auth.Gatekeeper`: 429 once
  too many). ``who`` decides which tokens may sign in to the page (agents only for the inbox);
  the ``RINGFLOW_ADMIN_TOKEN`` from the environment has no stored row and cannot open a
  session: create a stored token for a browser;
* ``POST PREFIX/sign-out``: ends the session (CSRF token and ``Origin`` checked), clears the
  cookie and goes back to the form.
"""

from __future__ import annotations

import html
import logging
from typing import Literal

from aiohttp import web

from ringflow.admin.app import API_APP, GATEKEEPER
from ringflow.admin.auth import Gatekeeper
from ringflow.admin.tokens import TokenOwner
from ringflow.browser_sessions import BROWSER_SESSIONS, CSRF_FIELD, BrowserSessions

log = logging.getLogger(__name__)

Who = Literal["agents", "admins", "anyone"]
MAX_FORM_BYTES = 4096

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Headers of every page served behind a sign-in: never cached, no foreign code, no framing."""


def signed_in_page(template: str, csrf: str) -> web.Response:
    """A page behind a sign-in: ``template`` with its session's CSRF token filled in
    (``{{csrf}}``, and the form field's name at ``{{csrf_field}}``), with :data:`PAGE_HEADERS`."""
    page = template.replace("{{csrf}}", html.escape(csrf)).replace("{{csrf_field}}", CSRF_FIELD)
    return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)


_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · {title}</title>
<link rel="stylesheet" href="{prefix}/static/sign-in.css">
</head><body>
<main class="sign-in">
<h1>{title}</h1>
<form method="post" action="{prefix}/sign-in">
<label for="token">Your token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus
 spellcheck="false" placeholder="rf_…">
<p class="hint">{hint}</p>
{error}
<button type="submit">Sign in</button>
</form>
</main>
</body></html>
"""


def sign_in_form(prefix: str, title: str, hint: str, error: str | None = None) -> str:
    """The sign-in page (``error``: what went wrong, shown above the button)."""
    shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return _FORM.format(
        prefix=html.escape(prefix),
        title=html.escape(title),
        hint=html.escape(hint),
        error=shown,
    )


def sessions_of(request: web.Request) -> BrowserSessions:
    return request.config_dict[BROWSER_SESSIONS]


def gatekeeper_of(request: web.Request) -> Gatekeeper:
    return request.config_dict[API_APP][GATEKEEPER]


def sign_in_routes(
    prefix: str, title: str, who: Who, hint: str = "Paste the token you were given."
) -> list[web.RouteDef]:
    """The sign-in, sign-out routes of the page at ``prefix`` (see the module docstring)."""

    def form(status: int, error: str | None = None) -> web.Response:
        return web.Response(
            status=status,
            text=sign_in_form(prefix, title, hint, error),
            content_type="text/html",
            headers=PAGE_HEADERS,
        )

    async def show(request: web.Request) -> web.Response:
        return form(200)

    async def sign_in(request: web.Request) -> web.StreamResponse:
        sessions = sessions_of(request)
        if not sessions.same_origin(request):
            log.warning("sign-in to %s refused: Origin %r", prefix, request.headers.get("Origin"))
            return form(403, "This sign-in did not come from this server's page.")
        if (request.content_length or 0) > MAX_FORM_BYTES:
            return form(413, "That is too long to be a token.")
        fields = await request.post()
        token = str(fields.get("token", "")).strip()
        gatekeeper = gatekeeper_of(request)
        client = gatekeeper.clients.of(request)
        if gatekeeper.blocked_for(client) > 0:
            gatekeeper.failed(client)
            answer = form(429, "Too many wrong tokens: try again in a minute.")
            answer.headers["Retry-After"] = str(int(gatekeeper.blocked_for(client)) + 1)
            return answer
        owner = await gatekeeper.owner(token) if 0 < len(token) <= 200 else None
        if owner is None:
            gatekeeper.failed(client)
            log.warning("sign-in to %s: wrong token from %s", prefix, client)
            return form(401, "That token is not valid (unknown or revoked).")
        if not _may(who, owner):
            return form(403, _refused[who])
        opened = await sessions.sign_in(token)
        if opened is None:  # RINGFLOW_ADMIN_TOKEN, or revoked a moment ago
            return form(403, "This token cannot open a browser session: use a stored token.")
        secret, owner = opened
        log.info("sign-in to %s as %s", prefix, owner.name)
        answer = web.HTTPSeeOther(prefix)
        sessions.set_cookie(answer, secret)
        raise answer

    async def sign_out(request: web.Request) -> web.StreamResponse:
        sessions = sessions_of(request)
        session = await sessions.current(request)
        if session is not None:
            fields = await request.post() if request.content_type else {}
            token = fields.get(CSRF_FIELD)
            refused = sessions.refusal(request, session, token if isinstance(token, str) else None)
            if refused is not None:
                raise web.HTTPForbidden(text=refused)
            await sessions.sign_out(request)
        answer = web.HTTPSeeOther(f"{prefix}/sign-in")
        sessions.clear_cookie(answer)
        raise answer

    return [
        web.get(f"{prefix}/sign-in", show),
        web.post(f"{prefix}/sign-in", sign_in),
        web.post(f"{prefix}/sign-out", sign_out),
    ]


_refused: dict[Who, str] = {
    "agents": "This page is for agents: sign in with your agent token (ringflow agents token).",
    "admins": "This page needs an admin token.",
    "anyone": "",
}


def _may(who: Who, owner: TokenOwner) -> bool:
    """Whether ``owner`` may sign in to a page for ``who`` (a token limited to scopes is
    another system's: it opens no admin page)."""
    if who == "agents":
        return owner.is_agent
    if who == "admins":
        return not owner.is_agent and owner.scopes is None
    return True
