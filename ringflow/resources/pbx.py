"""The Asterisk PBX adapter (``pbx/``), when AMI settings are given: one task owns the AMI
connection for the process's life; at close it logs off and stops. It places callbacks'
calls (the callbacks resource's placer is attached to it) and ends them from its events.

Only ``ringflow serve`` holds it. On PostgreSQL every instance given the AMI settings
competes for one advisory lock and only its holder follows the PBX (``pbx/ownership.py``);
see docs/asterisk.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.callbacks import CALLBACK_SERVICE
from pbx.callbacks import PbxCallbackEvents, PbxCallPlacer
from pbx.calls import phone_numbers
from pbx.ownership import Ownership
from pbx.service import AmiSettings, PbxAdapter, stopped
from ringflow.changes import listen_dsn
from ringflow.resources.callbacks import CALL_PLACER
from ringflow.resources.catalog import CATALOG
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.resources.jobs import JOB_WORKER

PBX = web.AppKey("pbx", PbxAdapter)

log = logging.getLogger(__name__)


async def pbx(app: web.Application) -> AsyncIterator[None]:
    """``app[PBX]`` when ``RINGFLOW_AMI_HOST`` is set (else nothing)."""
    settings = app[SETTINGS]
    if settings.ami_host is None or settings.ami_username is None or settings.ami_secret is None:
        yield
        return
    worker = app.get(JOB_WORKER)
    adapter = PbxAdapter(
        AmiSettings(
            host=settings.ami_host,
            port=settings.ami_port,
            username=settings.ami_username,
            secret=settings.ami_secret.get_secret_value(),
            ping_interval=settings.ami_ping_seconds,
            ping_timeout=settings.ami_ping_seconds,
            contexts=frozenset(settings.ami_contexts),
        ),
        app[DATABASE],
        app[CATALOG],
        app[CLOCK],
        numbers=phone_numbers(settings.ami_default_region),
        wake=worker.wake if worker is not None else None,
        ownership=Ownership(
            listen_dsn(app[DATABASE].url),
            f"{settings.ami_host}:{settings.ami_port}",
            retry=settings.ami_ping_seconds,
        ),
        callbacks=lambda event: events.handle(event),
    )
    events = PbxCallbackEvents(
        app[CALLBACK_SERVICE], app[DATABASE], adapter.hang_up, settings.ami_callback_context
    )
    app[PBX] = adapter
    placer = app.get(CALL_PLACER)
    if isinstance(placer, PbxCallPlacer):
        placer.attach(adapter)
    log.info("following the PBX at %s:%s over AMI", settings.ami_host, settings.ami_port)
    task = asyncio.create_task(adapter.run(), name="ami")
    try:
        yield
    finally:
        await stopped(task, adapter)
