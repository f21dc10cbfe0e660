"""Twilio SMS webhooks: delivery status callbacks (``POST /twilio/sms/status``).

Signatures are checked like the voice webhooks' (the same :class:`ivr.signature.SignatureChecker`,
from the app's ``VOICE_CONFIG``) before anything is read or written: a bad one is a 403. A form
without MessageSid or MessageStatus is a 400 naming the field. Anything unexpected is logged
with the MessageSid and answered 503 ("try again"), never a 500.

Callbacks are applied with :func:`sms.messages.apply_delivery_status`, so repeated and
out-of-order ones never move a status backwards; an unknown MessageSid (e.g. a text sent by
another system on the same number) changes nothing and is answered 204 all the same.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ivr.routes import VOICE_CONFIG
from ivr.signature import read_signed_form
from ringflow.database import Database
from sms.messages import apply_delivery_status

log = logging.getLogger(__name__)

SMS_DATABASE = web.AppKey("sms_database", Database)
_REQUIRED = ("MessageSid", "MessageStatus")


def _error_code(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


async def message_status(request: web.Request) -> web.Response:
    """``POST /twilio/sms/status``: Twilio's delivery status callback for a text."""
    form = await read_signed_form(request, request.app[VOICE_CONFIG].checker, "MessageSid")
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    for name in _REQUIRED:
        if not form.get(name, "").strip():
            raise web.HTTPBadRequest(text=f"missing form field {name}")
    sid = form["MessageSid"].strip()[:64]
    status = form["MessageStatus"].strip()
    error_code = _error_code(form.get("ErrorCode", ""))
    try:
        db = request.app[SMS_DATABASE]
        changed = await db.write(lambda conn: apply_delivery_status(conn, sid, status, error_code))
    except Exception:
        # Not a 500: say "try later" and keep the error, with the message id, in the log.
        log.exception("message %s: status callback failed", sid)
        raise web.HTTPServiceUnavailable(text="status not recorded, try again") from None
    if not changed:
        log.debug("message %s: status %r changed nothing", sid, status[:20])
    return web.Response(status=204)


def routes() -> list[web.AbstractRouteDef]:
    """The SMS webhook routes."""
    return [web.post("/twilio/sms/status", message_status)]
