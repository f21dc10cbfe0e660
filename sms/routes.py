"""Twilio SMS webhooks: delivery status callbacks (``POST /twilio/sms/status``) and inbound
texts (``POST /twilio/sms``).

Signatures are checked like the voice webhooks' (:mod:`ringflow.twilio_webhooks`, from the
app's ``TWILIO_WEBHOOKS``) before anything is read or written: a bad one is a 403. A form
without a required field is a 400 naming the field. Anything unexpected is logged with the
MessageSid and answered 503 ("try again"), never a 500.

Callbacks are applied with :func:`sms.messages.apply_delivery_status`, so repeated and
out-of-order ones never move a status backwards; an unknown MessageSid (e.g. a text sent by
another system on the same number) changes nothing and is answered 204 all the same.

Inbound texts (form From, To, Body, MessageSid) are handled in one write: the message is
recorded (:func:`sms.messages.record_inbound`, once per MessageSid, so a repeated webhook
stores and sends nothing twice); then a compliance keyword (:mod:`sms.keywords`, the whole
message only) acts on it:

* STOP (and its synonyms): the sender is opted out (:mod:`sms.optouts`) and the
  ``sms_stop_reply`` confirmation is queued as a *compliance* text: always for the STOP that
  opts the number out, at most once a day for further STOPs;
* START: the sender is opted in again and ``sms_start_reply`` queued;
* HELP: ``sms_help_reply`` is queued as a compliance text too: carriers expect HELP to be
  answered even from a number that opted out, but such a number is answered at most once a
  day. Compliance texts are the only ones that reach an opted-out number, and only ever as
  the answer to that number's own keyword.

START and HELP (from a number that did not opt out) are answered only while the sender is
under the per-number reply limit (:class:`sms.reply_limits.ReplyLimit`), like the texts
that go to workflows (:mod:`sms.workflow_jobs`): a text over it is recorded, not answered,
and logged.

Replies go from the number the text was sent to (the inbound ``To``) through the send job
(:func:`sms.send_job.queue_text`, keys ``optout-confirm:``/``optin-confirm:``/``help:`` +
MessageSid). The answer is always an empty TwiML ``<Response/>``: replies are sent by the job
worker, not in TwiML. A sender that is not a phone number (e.g. an alphanumeric sender id)
cannot be recorded; it is logged and answered with the same empty TwiML.

The reply texts come from the :class:`ringflow.settings.Settings` the composition root stores
under :data:`SMS_SETTINGS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from aiohttp import web
from sqlalchemy import Connection
from twilio.twiml.messaging_response import MessagingResponse

from ringflow.clock import Clock
from ringflow.database import Database
from ringflow.logs import log_context
from ringflow.metrics import METRICS
from ringflow.settings import Settings
from ringflow.twilio_webhooks import signed_form
from sms.conversation_channel import record_customer_text
from sms.keywords import Keyword, classify, normalize
from sms.messages import apply_delivery_status, record_inbound
from sms.optouts import is_opted_out, opt_in, opt_out
from sms.reply_limits import COMPLIANCE_EVERY, ReplyLimit, answered_since
from sms.send_job import queue_text
from sms.workflow_jobs import SMS_INBOUND
from workflows.jobs import enqueue
from workflows.phones import InvalidPhoneNumber, normalize_number

__all__ = [
    "JOBS_WAKE",
    "SMS_CLOCK",
    "SMS_DATABASE",
    "SMS_SETTINGS",
    "Inbound",
    "handle_inbound",
    "incoming_message",
    "message_status",
    "routes",
]

log = logging.getLogger(__name__)

SMS_DATABASE = web.AppKey("sms_database", Database)
SMS_SETTINGS = web.AppKey("sms_settings", Settings)
"""Where the reply texts come from; optional (see the module docstring)."""
SMS_CLOCK: web.AppKey[Clock] = web.AppKey("sms_clock")
"""The server's clock (required)."""
JOBS_WAKE: web.AppKey[Callable[[], None]] = web.AppKey("jobs_wake")
"""Tells this process's job worker that work is due now (optional)."""
_REQUIRED = ("MessageSid", "MessageStatus")
_INBOUND_REQUIRED = ("MessageSid", "From", "To")
"""Non-empty in every inbound webhook; Body must be present too, but may be empty (MMS)."""
_EMPTY_TWIML: Final = str(MessagingResponse())


def _error_code(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


async def _signed_fields(request: web.Request, required: tuple[str, ...]) -> dict[str, str]:
    """The webhook's form: 403 without a valid signature, 400 naming a missing field."""
    form = await signed_form(request, "MessageSid")
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    for name in required:
        if not form.get(name, "").strip():
            raise web.HTTPBadRequest(text=f"missing form field {name}")
    return form


async def message_status(request: web.Request) -> web.Response:
    """``POST /twilio/sms/status``: Twilio's delivery status callback for a text."""
    form = await _signed_fields(request, _REQUIRED)
    sid = form["MessageSid"].strip()[:64]
    status = form["MessageStatus"].strip()
    error_code = _error_code(form.get("ErrorCode", ""))
    with log_context(message_sid=sid):
        try:
            db, now = request.app[SMS_DATABASE], request.app[SMS_CLOCK]()
            changed = await db.write(
                lambda conn: apply_delivery_status(conn, sid, status, error_code, now=now)
            )
        except Exception:
            # Not a 500: say "try later" and keep the error, with the message id, in the log.
            log.exception("message %s: status callback failed", sid)
            raise web.HTTPServiceUnavailable(text="status not recorded, try again") from None
        if not changed:
            log.debug("message %s: status %r changed nothing", sid, status[:20])
    metrics = request.app.get(METRICS)
    if changed and metrics is not None:
        metrics.text_status(status)
    return web.Response(status=204)


@dataclass(frozen=True, slots=True)
class Inbound:
    """What became of an inbound text: whether it was new, its keyword, and why a keyword
    got no reply (None: it got one, or it has no keyword)."""

    new: bool
    keyword: Keyword | None = None
    unanswered: str | None = None
    limited: bool = False
    """The reply was held back by the per-number reply limit (a possible loop)."""


def handle_inbound(
    conn: Connection,
    *,
    sid: str,
    sender: str,
    recipient: str,
    body: str,
    settings: Settings,
    now: datetime,
) -> Inbound:
    """Record inbound text ``sid`` received at ``now`` and act on its keyword, in the caller's
    transaction; a repeated MessageSid does nothing.

    Keyword replies are limited (:mod:`sms.reply_limits`): a first STOP is always
    confirmed, a STOP from a number already opted out and a HELP from an opted-out number at
    most once a day; START and HELP otherwise only while the number is under the reply limit.
    """
    if not record_inbound(conn, from_=sender, to=recipient, body=body, provider_id=sid, now=now):
        return Inbound(new=False)
    keyword = classify(body)
    number = normalize_number(sender)
    # People in the loop: the text joins its conversation's timeline (and may reopen it).
    reopen = timedelta(hours=settings.conversation_reopen_hours)
    record_customer_text(
        conn,
        sid=sid,
        business=recipient,
        contact=number,
        body=body,
        now=now,
        reopen_window=reopen,
        answers_waiting_run=keyword is None,
    )
    if keyword is None:
        # Any other text goes to the conversation's workflows, as durable work.
        payload = {"sid": sid, "from": number, "to": recipient, "body": body}
        enqueue(conn, SMS_INBOUND, payload, dedupe_key=f"inbound:{sid}", now=now)
        return Inbound(new=True)
    limit = ReplyLimit.from_settings(settings)
    day_ago = now - COMPLIANCE_EVERY
    if keyword == "stop":
        newly = opt_out(conn, sender, "keyword", keyword=normalize(body), now=now)
        if not newly and answered_since(conn, number, "optout-confirm:", day_ago):
            return Inbound(True, keyword, "already opted out, and confirmed within a day")
        reply, key, compliance = settings.sms_stop_reply, f"optout-confirm:{sid}", True
    elif keyword == "start":
        opt_in(conn, sender)
        if limit.reached(conn, number, now):
            return Inbound(True, keyword, limit.describe(), limited=True)
        reply, key, compliance = settings.sms_start_reply, f"optin-confirm:{sid}", False
    else:  # help: answered even to an opted-out number, but not over and over
        if is_opted_out(conn, number):
            if answered_since(conn, number, "help:", day_ago):
                return Inbound(True, keyword, "opted out, and answered a HELP within a day")
        elif limit.reached(conn, number, now):
            return Inbound(True, keyword, limit.describe(), limited=True)
        reply, key, compliance = settings.sms_help_reply, f"help:{sid}", True
    queue_text(
        conn, to=sender, from_=recipient, body=reply, key=key, compliance=compliance, now=now
    )
    return Inbound(True, keyword)


def _twiml() -> web.Response:
    return web.Response(text=_EMPTY_TWIML, content_type="text/xml")


async def incoming_message(request: web.Request) -> web.Response:
    """``POST /twilio/sms``: a text received on one of our numbers."""
    form = await _signed_fields(request, _INBOUND_REQUIRED)
    if "Body" not in form:
        raise web.HTTPBadRequest(text="missing form field Body")
    sid = form["MessageSid"].strip()[:64]
    with log_context(message_sid=sid):
        return await _inbound(request, sid, form)


async def _inbound(request: web.Request, sid: str, form: dict[str, str]) -> web.Response:
    sender, recipient, body = form["From"].strip(), form["To"].strip(), form["Body"]
    try:
        settings = request.app[SMS_SETTINGS]
        db, now = request.app[SMS_DATABASE], request.app[SMS_CLOCK]()
        inbound = await db.write(
            lambda conn: handle_inbound(
                conn,
                sid=sid,
                sender=sender,
                recipient=recipient,
                body=body,
                settings=settings,
                now=now,
            )
        )
    except InvalidPhoneNumber:
        log.warning("message %s: the sender is not a phone number; not recorded", sid)
        return _twiml()
    except Exception:
        # Not a 500: say "try later" and keep the error, with the message id, in the log.
        log.exception("message %s: inbound text failed", sid)
        raise web.HTTPServiceUnavailable(text="message not recorded, try again") from None
    wake = request.app.get(JOBS_WAKE)
    if inbound.new and wake is not None:
        wake()
    metrics = request.app.get(METRICS)
    if inbound.new and metrics is not None:
        metrics.text_status("received")
    if not inbound.new:
        log.info("message %s: repeated webhook, already recorded", sid)
    elif inbound.keyword is not None and inbound.unanswered is not None:
        log.log(
            logging.WARNING if inbound.limited else logging.INFO,
            "message %s: %s keyword from %s not answered: %s",
            sid,
            inbound.keyword.upper(),
            sender,
            inbound.unanswered,
        )
    elif inbound.keyword is not None:
        log.info("message %s: %s keyword", sid, inbound.keyword.upper())
    return _twiml()


def routes() -> list[web.AbstractRouteDef]:
    """The SMS webhook routes."""
    return [
        web.post("/twilio/sms", incoming_message),
        web.post("/twilio/sms/status", message_status),
    ]
