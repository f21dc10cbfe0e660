"""The webhooks of a callback's calls: Twilio's wire format in and out, nothing more.

Each placement's webhooks carry the request's id and the placement's number in their path
(:func:`ivr.calls_api.callback_path`); the decisions are the core's
(:class:`workflows.callbacks.service.CallbackService`):

``POST .../agent``   the agent answered: ``<Gather>`` one key ("Callback for +1 415 ...,
                     press 1 to connect"), its action ``.../accept``, even without a key
``POST .../accept``  1: ``<Dial action=.../dialed callerId=...><Number url=.../greet>``
                     (the customer hears the greeting when they answer); else goodbye
``POST .../greet``   the customer's greeting (``<Say>``)
``POST .../dialed``  the dial's outcome (``DialCallStatus``, ``DialCallSid``,
                     ``DialCallDuration``): the attempt is recorded
``POST .../status``  the agent leg's status callback

Signatures are checked first; a failure answers an apology and ``<Hangup/>`` (the status
callback a 503), never a 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from ivr.calls_api import callback_path
from ivr.twiml import apology
from ringflow.logs import log_context
from ringflow.twilio_webhooks import TWILIO_WEBHOOKS, signed_form
from workflows.callbacks.service import CallbackService, DialCustomer, Goodbye

__all__ = ["CALLBACK_SERVICE", "routes"]

log = logging.getLogger(__name__)

CALLBACK_SERVICE = web.AppKey("callback_service", CallbackService)
APOLOGY = "We are sorry, something went wrong with this callback. Goodbye."
_PATH = r"/twilio/voice/callbacks/{callback_id:\d{1,18}}/{leg:\d{1,6}}"


def _twiml(response: VoiceResponse) -> web.Response:
    return web.Response(text=str(response), content_type="text/xml")


def _goodbye(goodbye: Goodbye) -> VoiceResponse:
    response = VoiceResponse()
    response.say(goodbye.text)
    response.hangup()
    return response


def _url(request: web.Request, callback_id: int, leg: int, step: str) -> str:
    base = request.app[TWILIO_WEBHOOKS].public_url or ""
    return base + callback_path(callback_id, leg, step)


def _ids(request: web.Request) -> tuple[int, int]:
    return int(request.match_info["callback_id"]), int(request.match_info["leg"])


async def _answer(
    request: web.Request,
    work: Callable[[dict[str, str], int, int], Awaitable[VoiceResponse]],
) -> web.Response:
    form = await signed_form(request, "CallSid")
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    callback_id, leg = _ids(request)
    with log_context(call=form.get("CallSid"), callback=callback_id):
        try:
            async with asyncio.timeout(request.app[TWILIO_WEBHOOKS].deadline):
                return _twiml(await work(form, callback_id, leg))
        except Exception:
            log.exception("callback %d: webhook %s failed", callback_id, request.path)
            return web.Response(text=apology(APOLOGY), content_type="text/xml")


async def agent(request: web.Request) -> web.Response:
    """The agent answered the callback's call."""
    service = request.app[CALLBACK_SERVICE]

    async def work(form: dict[str, str], callback_id: int, leg: int) -> VoiceResponse:
        said = await service.agent_answered(callback_id, leg, form.get("CallSid", ""))
        if isinstance(said, Goodbye):
            return _goodbye(said)
        response = VoiceResponse()
        accept = _url(request, callback_id, leg, "accept")
        gather = response.gather(
            num_digits=1, timeout=said.timeout, action=accept, action_on_empty_result=True
        )
        gather.say(said.text)
        response.redirect(accept)
        return response

    return await _answer(request, work)


async def accept(request: web.Request) -> web.Response:
    """The agent's key (or none)."""
    service = request.app[CALLBACK_SERVICE]

    async def work(form: dict[str, str], callback_id: int, leg: int) -> VoiceResponse:
        decided = await service.agent_pressed(callback_id, leg, form.get("Digits", "").strip())
        if isinstance(decided, Goodbye):
            return _goodbye(decided)
        return _dial(request, callback_id, leg, decided)

    return await _answer(request, work)


def _dial(request: web.Request, callback_id: int, leg: int, dial: DialCustomer) -> VoiceResponse:
    response = VoiceResponse()
    verb = response.dial(
        action=_url(request, callback_id, leg, "dialed"),
        caller_id=dial.caller_id,
        timeout=dial.timeout,
    )
    verb.number(dial.number, url=_url(request, callback_id, leg, "greet"))
    return response


async def greet(request: web.Request) -> web.Response:
    """What the customer hears when they answer."""
    service = request.app[CALLBACK_SERVICE]

    async def work(form: dict[str, str], callback_id: int, leg: int) -> VoiceResponse:
        response = VoiceResponse()
        response.say(await service.customer_greeting(callback_id))
        return response

    return await _answer(request, work)


def _seconds(raw: str | None) -> int | None:
    value = (raw or "").strip()
    return int(value) if value.isdigit() and len(value) < 9 else None


async def dialed(request: web.Request) -> web.Response:
    """The dial to the customer ended."""
    service = request.app[CALLBACK_SERVICE]

    async def work(form: dict[str, str], callback_id: int, leg: int) -> VoiceResponse:
        said = await service.dial_finished(
            callback_id,
            leg,
            form.get("DialCallStatus", "failed"),
            form.get("DialCallSid") or None,
            _seconds(form.get("DialCallDuration")),
        )
        if said is None:
            response = VoiceResponse()
            response.hangup()
            return response
        return _goodbye(said)

    return await _answer(request, work)


async def status(request: web.Request) -> web.Response:
    """The agent leg's status callback."""
    form = await signed_form(request, "CallSid")
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    callback_id, leg = _ids(request)
    try:
        async with asyncio.timeout(request.app[TWILIO_WEBHOOKS].status_deadline):
            await request.app[CALLBACK_SERVICE].agent_leg_ended(
                callback_id, leg, form.get("CallStatus", "")
            )
    except Exception:
        log.exception("callback %d: status callback failed", callback_id)
        raise web.HTTPServiceUnavailable(text="status not recorded, try again") from None
    return web.Response(status=204)


def routes() -> list[web.AbstractRouteDef]:
    """The callback webhook routes."""
    return [
        web.post(_PATH + "/agent", agent),
        web.post(_PATH + "/accept", accept),
        web.post(_PATH + "/greet", greet),
        web.post(_PATH + "/dialed", dialed),
        web.post(_PATH + "/status", status),
    ]
