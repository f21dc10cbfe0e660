"""The session service: the one way into the workflows for every channel (voice turns, texts,
post-call events, timers), shared by the voice webhooks and the job worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ringflow.resources.catalog import CATALOG
from ringflow.resources.conversation_channels import conversation_channels
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from sms.send_job import queue_text
from workflows.engine import Engine
from workflows.sessions import SessionService

SESSIONS = web.AppKey("sessions", SessionService)


async def sessions(app: web.Application) -> AsyncIterator[None]:
    """``app[SESSIONS]``; the texts a workflow sends are queued as the SMS send job, its
    conversation steps act through the conversation channels. Nothing to close."""
    settings = app[SETTINGS]
    app[SESSIONS] = SessionService(
        app[DATABASE],
        app[CATALOG],
        Engine(settings.step_limit),
        app[CLOCK],
        texts=queue_text,
        conversations=conversation_channels(),
    )
    yield
