"""The SMS provider texts leave through: Twilio when configured, else the local outbox; and
what the SMS webhooks read (the database, the settings, the clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ringflow.clock import Clock
from ringflow.database import Database
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.settings import Settings
from sms import routes as sms_routes
from sms.messages import Provider
from sms.outbox import OUTBOX, OutboxProvider
from sms.provider import SmsProvider
from sms.twilio_provider import TwilioSmsProvider

SMS_PROVIDER = web.AppKey("sms_provider", SmsProvider)
PROVIDER_NAME: web.AppKey[Provider] = web.AppKey("sms_provider_name")
"""The name recorded with each text sent (``twilio`` or ``outbox``)."""


def sms_provider(settings: Settings, db: Database, clock: Clock) -> tuple[SmsProvider, Provider]:
    """Twilio when both its account SID and auth token are set, else the local outbox."""
    sid, token = settings.twilio_account_sid, settings.auth_token
    if sid and token:
        provider = TwilioSmsProvider(
            sid, token, api_base_url=settings.twilio_api_base_url, clock=clock
        )
        return provider, "twilio"
    return OutboxProvider(db, clock=clock), OUTBOX


async def sms(app: web.Application) -> AsyncIterator[None]:
    """``app[SMS_PROVIDER]`` and ``app[PROVIDER_NAME]``, closed at the end; the keys the SMS
    webhooks read."""
    settings, db, clock = app[SETTINGS], app[DATABASE], app[CLOCK]
    app[sms_routes.SMS_DATABASE] = db
    app[sms_routes.SMS_SETTINGS] = settings
    app[sms_routes.SMS_CLOCK] = clock
    provider, name = sms_provider(settings, db, clock)
    app[SMS_PROVIDER] = provider
    app[PROVIDER_NAME] = name
    try:
        yield
    finally:
        await provider.close()
