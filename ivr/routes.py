"""Twilio voice webhooks: incoming calls, action URLs of waiting verbs, status callbacks.

The safety net lives here: whatever fails inside a voice turn, Twilio gets a 200 with a short
apology and ``<Hangup/>`` (never a 500, which callers hear as "an application error has
occurred"), and the error is logged with the call id. So does a turn that has not answered
within its deadline (``WebhookConfig.deadline`` of :mod:`ringflow.twilio_webhooks`): the
caller is not left in silence while the database or anything else holds the turn up; what
such a turn leaves behind is settled in ``ivr/failures.py``. Signatures are checked before
anything is read from or written to the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Histogram

from ivr.forms import OFFERED, RUNG, CallFields, FormError
from ivr.hold import MUSIC_PATH, HoldQueues
from ivr.service import APOLOGY, VoiceService
from ivr.twiml import QUEUE_KEY_PATH, QUEUE_WAIT_PATH, WAIT_KINDS, WaitKind, apology
from ivr.twiml import hold as hold_twiml
from ringflow.logs import log_context
from ringflow.metrics import METRICS
from ringflow.twilio_webhooks import TWILIO_WEBHOOKS, signed_form

log = logging.getLogger(__name__)

TWIML = "text/xml"


VOICE_SERVICE = web.AppKey("voice_service", VoiceService)
HOLD_QUEUES = web.AppKey("hold_queues", HoldQueues)


async def _signed_form(request: web.Request) -> dict[str, str] | None:
    """The webhook's form, or None when its signature does not hold."""
    return await signed_form(request, "CallSid")


def _twiml(body: str) -> web.Response:
    return web.Response(text=body, content_type=TWIML)


async def _turn(
    request: web.Request,
    run: Callable[[dict[str, str], CallFields], Awaitable[str]],
    timer: Histogram | None,
) -> web.Response:
    """One voice turn, timed by ``timer`` (seconds to the answer; a webhook refused for its
    signature is no turn) and logged with the call's and the run's ids."""
    started = time.perf_counter()
    response = await _answer(request, run)
    if timer is not None:
        timer.observe(time.perf_counter() - started)
    return response


async def _answer(
    request: web.Request, run: Callable[[dict[str, str], CallFields], Awaitable[str]]
) -> web.Response:
    form = await _signed_form(request)
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    try:
        call = CallFields.parse(form)
    except FormError as error:
        log.warning("call %s: bad webhook form on %s: %s", form.get("CallSid"), request.path, error)
        return _twiml(apology(APOLOGY))
    with log_context(call=call.sid, run=request.match_info.get("run_id")):
        return await _within_deadline(request, run, form, call)


async def _within_deadline(
    request: web.Request,
    run: Callable[[dict[str, str], CallFields], Awaitable[str]],
    form: dict[str, str],
    call: CallFields,
) -> web.Response:
    loop = asyncio.get_running_loop()
    seconds = request.app[TWILIO_WEBHOOKS].deadline
    deadline = loop.time() + seconds
    timer = asyncio.timeout_at(deadline)
    try:
        async with timer:
            return _twiml(await run(form, call))
    except Exception as error:
        if timer.expired():
            reason = f"no answer within the deadline ({seconds:g} s)"
            log.error("call %s: %s on %s", call.sid, reason, request.path)
        else:
            log.exception("call %s: voice turn failed on %s", call.sid, request.path)
            reason = repr(error)
    # A failure found early still has its run closed before the answer; after the deadline
    # that goes on in the background.
    run_id = request.match_info.get("run_id")
    turn = int(request.match_info.get("turn", "0"))
    wait = deadline - loop.time()
    await request.app[VOICE_SERVICE].fail(call.sid, run_id, turn, reason, wait=wait)
    return _twiml(apology(APOLOGY))


def _base_url(request: web.Request) -> str:
    # Without a configured public URL the action URLs stay relative: Twilio resolves them
    # against the URL it just requested, which is right even behind a proxy.
    return request.app[TWILIO_WEBHOOKS].public_url or ""


async def incoming_call(request: web.Request) -> web.Response:
    """``POST /twilio/voice``: a call came in."""
    service = request.app[VOICE_SERVICE]
    metrics = request.app.get(METRICS)
    return await _turn(
        request,
        lambda _form, call: service.incoming(call, _base_url(request)),
        metrics.incoming_turn if metrics is not None else None,
    )


async def action(request: web.Request) -> web.Response:
    """``POST /twilio/voice/runs/{run_id}/{turn}/{wait}``: a waiting verb finished."""
    service = request.app[VOICE_SERVICE]
    run_id = request.match_info["run_id"]
    turn = int(request.match_info["turn"])
    wait: WaitKind = _wait_kind(request.match_info["wait"])
    metrics = request.app.get(METRICS)
    # What Ringflow put in the action's query (signed with it): the agents a connect step
    # rang, the agent a queued caller is offered to.
    ours = {
        RUNG: ",".join(request.query.getall("rung", [])),
        OFFERED: request.query.get("agent", ""),
    }
    return await _turn(
        request,
        lambda form, call: service.turn(run_id, turn, wait, call, form | ours, _base_url(request)),
        metrics.action_turn if metrics is not None else None,
    )


def _wait_kind(raw: str) -> WaitKind:
    for kind in WAIT_KINDS:
        if kind == raw:
            return kind
    raise web.HTTPNotFound()


async def call_status(request: web.Request) -> web.Response:
    """``POST /twilio/voice/status``: Twilio's status callback."""
    form = await _signed_form(request)
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    timer = asyncio.timeout(request.app[TWILIO_WEBHOOKS].status_deadline)
    try:
        call = CallFields.parse(form)
        raw_duration = form.get("CallDuration", "").strip()
        duration = int(raw_duration) if raw_duration.isdigit() else None
        async with timer:
            with log_context(call=call.sid):
                outcome = await request.app[VOICE_SERVICE].status(call, duration)
    except FormError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    except Exception:
        # Not a 500: say "try later" and keep the error, with the call id, in the log.
        if timer.expired():
            log.error("call %s: status not recorded within the deadline", form.get("CallSid"))
        else:
            log.exception("call %s: status callback failed", form.get("CallSid"))
        raise web.HTTPServiceUnavailable(text="status not recorded, try again") from None
    metrics = request.app.get(METRICS)
    if outcome is not None and metrics is not None:
        metrics.call_ended(outcome)
    return web.Response(status=204)


async def _hold_answer(
    request: web.Request, answer: Callable[[HoldQueues, str], Awaitable[str]]
) -> web.Response:
    """A hold-queue webhook: TwiML, never a 500 (a failure keeps the caller waiting)."""
    form = await _signed_form(request)
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    sid = form.get("CallSid", "")
    timer = asyncio.timeout(request.app[TWILIO_WEBHOOKS].deadline)
    try:
        async with timer:
            with log_context(call=sid):
                return _twiml(await answer(request.app[HOLD_QUEUES], sid))
    except Exception:
        log.exception("call %s: hold queue webhook failed on %s", sid, request.path)
        return _twiml(hold_twiml(None, None, _base_url(request) + QUEUE_KEY_PATH, 10))


async def queue_wait(request: web.Request) -> web.Response:
    """``POST /twilio/voice/queue/wait``: what a caller waiting in a hold queue hears next."""
    base = _base_url(request)
    return await _hold_answer(request, lambda queues, sid: queues.wait(sid, base))


async def queue_key(request: web.Request) -> web.Response:
    """``POST /twilio/voice/queue/key``: a waiting caller pressed a key."""
    base = _base_url(request)
    form = await request.post()
    digits = str(form.get("Digits", "")).strip()
    return await _hold_answer(request, lambda queues, sid: queues.key(sid, digits, base))


async def agent_status(request: web.Request) -> web.Response:
    """``POST /twilio/voice/agents/{agent}/status``: the status of an agent's leg."""
    form = await _signed_form(request)
    if form is None:
        raise web.HTTPForbidden(text="invalid Twilio signature")
    agent = request.match_info["agent"]
    team = request.query.get("team") or None
    try:
        async with asyncio.timeout(request.app[TWILIO_WEBHOOKS].status_deadline):
            with log_context(call=form.get("ParentCallSid")):
                await request.app[HOLD_QUEUES].agent_leg(agent, team, form)
    except Exception:
        log.exception("agent %s: leg status not recorded", agent)
        raise web.HTTPServiceUnavailable(text="status not recorded, try again") from None
    return web.Response(status=204)


async def hold_music(request: web.Request) -> web.Response:
    """``GET /twilio/voice/queue/music.wav``: the default hold music."""
    music = request.app[HOLD_QUEUES].music
    if music is None:
        raise web.HTTPNotFound()
    return web.Response(
        body=music, content_type="audio/wav", headers={"Cache-Control": "max-age=86400"}
    )


def routes() -> list[web.AbstractRouteDef]:
    """The voice webhook routes."""
    return [
        web.post("/twilio/voice", incoming_call),
        web.post(r"/twilio/voice/runs/{run_id:[0-9a-f]{32}}/{turn:\d{1,6}}/{wait}", action),
        web.post("/twilio/voice/status", call_status),
        web.post(QUEUE_WAIT_PATH, queue_wait),
        web.post(QUEUE_KEY_PATH, queue_key),
        web.post(
            r"/twilio/voice/agents/{agent:[A-Za-z0-9][A-Za-z0-9._-]{0,63}}/status", agent_status
        ),
        web.get(MUSIC_PATH, hold_music),
    ]
