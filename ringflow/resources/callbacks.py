"""Callbacks: what places their calls for the job worker (the Asterisk PBX's ``Originate``
when AMI settings are given; otherwise Twilio's Calls API, when Twilio and a public URL are
configured), and the service their webhooks and the PBX's events ask."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ivr.callbacks import CALLBACK_SERVICE
from ivr.calls_api import TwilioCallPlacer
from pbx.callbacks import PbxCallPlacer
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.settings import Settings
from sms.optouts import is_opted_out
from workflows.callbacks.job import CallPlacer
from workflows.callbacks.service import CallbackService

CALL_PLACER: web.AppKey[CallPlacer | None] = web.AppKey("call_placer")
"""Places callbacks' calls; None when Twilio is not configured (callbacks then wait)."""


def call_placer(settings: Settings) -> TwilioCallPlacer | PbxCallPlacer | None:
    """The PBX when AMI settings are given (its adapter attaches itself once it exists,
    :mod:`ringflow.resources.pbx`); else Twilio's Calls API when its account SID, auth token
    and the public URL (which Twilio fetches the calls' instructions from) are set."""
    if settings.ami_host is not None:
        return PbxCallPlacer(settings.ami_callback_context)
    sid, token = settings.twilio_account_sid, settings.auth_token
    if not (sid and token and settings.public_url):
        return None
    return TwilioCallPlacer(
        sid, token, settings.public_url, api_base_url=settings.twilio_api_base_url
    )


async def callbacks(app: web.Application) -> AsyncIterator[None]:
    """``app[CALL_PLACER]`` and ``app[CALLBACK_SERVICE]``; the placer's HTTP session is
    closed at the end."""
    placer = call_placer(app[SETTINGS])
    app[CALL_PLACER] = placer
    app[CALLBACK_SERVICE] = CallbackService(app[DATABASE], app[CLOCK], opted_out=is_opted_out)
    try:
        yield
    finally:
        if isinstance(placer, TwilioCallPlacer):
            await placer.close()
