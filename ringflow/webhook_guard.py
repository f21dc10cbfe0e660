"""What every Twilio webhook (``POST /twilio/...``) must look like before a handler sees it.

The middleware made by :func:`webhook_guard` answers, before the handler (and so before the
signature check, the database or the workflow) runs:

* **415** to a body that is not ``application/x-www-form-urlencoded``, which is all Twilio
  ever sends: a ``multipart/form-data`` body (files and all) is never parsed;
* **408** when the body has not arrived within ``body_seconds`` of the headers (a client
  trickling it in a byte at a time would otherwise hold a connection and a handler for as
  long as it likes), with ``Connection: close``: the connection is closed once aiohttp's
  lingering close (at most 10 s of reading and dropping what still comes) is over;
* **400** to a form that cannot be decoded, or whose fields are longer than Twilio ever makes
  them (:data:`FIELD_CAPS`: ``CallSid``, ``MessageSid``, ``From``, ``To`` 64 characters,
  ``Body`` 1,600), naming the field. Nothing is stored in any of these cases.

The form it read is cached by aiohttp (``request.post()``), so the handler does not parse it
twice. Other requests (the admin API, media, health checks) pass through untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy

__all__ = ["FIELD_CAPS", "FORM_TYPE", "WEBHOOK_PREFIX", "webhook_guard"]

log = logging.getLogger(__name__)

WEBHOOK_PREFIX: Final = "/twilio/"
FORM_TYPE: Final = "application/x-www-form-urlencoded"
FIELD_CAPS: Final[Mapping[str, int]] = {
    "CallSid": 64,
    "MessageSid": 64,
    "From": 64,
    "To": 64,
    "Body": 1600,
}
"""Longest value, in characters, of the webhook fields Ringflow keeps or logs."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _too_long(form: MultiDictProxy[Any]) -> str | None:
    """The first capped field over its cap (any of its values, if repeated), or None."""
    for name, cap in FIELD_CAPS.items():
        for value in form.getall(name, ()):
            if not isinstance(value, str) or len(value) > cap:
                return f"form field {name} is longer than {cap} characters"
    return None


def webhook_guard(body_seconds: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware (see the module docstring); ``body_seconds`` is how long a webhook's
    body may take to arrive after its headers."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.method != "POST"
            or not request.path.startswith(WEBHOOK_PREFIX)
            or request.match_info.http_exception is not None  # 404/405: let aiohttp say so
        ):
            return await handler(request)
        if request.content_type != FORM_TYPE:
            raise web.HTTPUnsupportedMediaType(
                text=f"a Twilio webhook is a form ({FORM_TYPE}), not {request.content_type!r}"
            )
        try:
            if request.content.is_eof():  # all there already (the usual case): no timer
                form = await request.post()
            else:
                async with asyncio.timeout(body_seconds):
                    form = await request.post()
        except TimeoutError:
            log.warning(
                "webhook %s from %s: body not received within %s s, cut off",
                request.path,
                request.remote,
                body_seconds,
            )
            # Connection: close. aiohttp still reads (and drops) what the client sends for up
            # to its lingering time (10 s) before it closes, so the client gets the 408 rather
            # than a reset; the handler is done and nothing is stored.
            response = web.Response(status=408, text="the body took too long to arrive")
            response.force_close()
            return response
        except (ValueError, LookupError):  # not UTF-8, or a charset Python does not know
            raise web.HTTPBadRequest(text="the form cannot be decoded") from None
        problem = _too_long(form)
        if problem is not None:
            log.warning("webhook %s: %s; refused", request.path, problem)
            raise web.HTTPBadRequest(text=problem)
        return await handler(request)

    return guard
