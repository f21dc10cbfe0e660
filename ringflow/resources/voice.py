"""The voice service the Twilio voice webhooks drive: one turn of a call per webhook."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.hold import HoldQueues, generate_music
from ivr.routes import HOLD_QUEUES, VOICE_SERVICE
from ivr.service import VoiceService
from ringflow.resources.catalog import CATALOG
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.resources.jobs import JOB_WORKER
from ringflow.resources.sessions import SESSIONS
from ringflow.resources.speech import PLAYBACK
from sms.workflow_jobs import CallEventHandler
from workflows.test_calls import TestCallVersions

TEST_CALL_VERSIONS = web.AppKey("test_call_versions", TestCallVersions)


async def voice(app: web.Application) -> AsyncIterator[None]:
    """``app[VOICE_SERVICE]`` and ``app[TEST_CALL_VERSIONS]`` (the versions the console's
    test calls run); at close, calls in progress get up to the voice deadline."""
    settings, db, catalog, clock = app[SETTINGS], app[DATABASE], app[CATALOG], app[CLOCK]
    worker = app.get(JOB_WORKER)
    sessions = app[SESSIONS]
    tests = TestCallVersions()
    app[TEST_CALL_VERSIONS] = tests
    post_call = CallEventHandler(db, sessions, clock)
    service = VoiceService(
        db,
        catalog,
        sessions,
        clock=clock,
        events=worker.wake if worker is not None else None,
        post_call=post_call.handle_in,
        playback=app[PLAYBACK],
        media_base=settings.public_url or "",
        tests=tests,
    )
    app[VOICE_SERVICE] = service
    queues = HoldQueues(
        db,
        clock,
        playback=app[PLAYBACK],
        media_base=settings.public_url or "",
        events=worker.wake if worker is not None else None,
    )
    app[HOLD_QUEUES] = queues
    # The default hold music is made at start, without holding the start up (ffmpeg takes a
    # few hundred ms): until it is ready, waiting callers hear silence between announcements.
    music = asyncio.create_task(queues.make_music(generate_music), name="hold-music")
    try:
        yield
    finally:
        music.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await music
        await service.close(settings.voice_deadline_seconds)
