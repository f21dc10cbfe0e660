"""The web chat: the secret visitor ids are signed with, the live hub that brings new
messages to the widgets' sockets from every process, and the chat's service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from chat.conversations import BUSINESS
from chat.routes import CHAT, ChatConfig
from chat.service import ChatService
from chat.typing import ChatTyping
from chat.visitors import VisitorKeys, load_secret
from ringflow.live import LiveHub
from ringflow.resources.catalog import CATALOG, CHANGES
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.resources.sessions import SESSIONS
from sms.send_job import queue_text
from workflows.triggers import CHAT_STARTED

LIVE = web.AppKey("live", LiveHub)


async def chat(app: web.Application) -> AsyncIterator[None]:
    """``app[LIVE]`` (attached to this process's listening connection) and ``app[CHAT]``."""
    settings, db = app[SETTINGS], app[DATABASE]
    if settings.chat_secret is not None:
        secret = settings.chat_secret.get_secret_value().encode()
    else:
        secret = await db.write(load_secret)
    hub = LiveHub()
    await hub.attach(db, app.get(CHANGES))
    app[LIVE] = hub
    identity = settings.chat_identity_secret
    catalog = app[CATALOG]
    app[CHAT] = ChatConfig(
        service=ChatService(
            db,
            app[SESSIONS],
            app[CLOCK],
            reopen_window=timedelta(hours=settings.conversation_reopen_hours),
            max_chars=settings.chat_max_message_chars,
            greets=lambda: bool(catalog.candidates(CHAT_STARTED, BUSINESS)),
            texts=queue_text,
        ),
        typing=ChatTyping(db, hub),
        keys=VisitorKeys(secret),
        hub=hub,
        identity_secret=identity.get_secret_value().encode() if identity else None,
        origins=settings.chat_origins,
    )
    yield
