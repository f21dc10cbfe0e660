"""Browser sessions (for the pages) and the inbox's live updates, once the database and the
change feed are open."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chat.typing import INBOX_KEY, VISITOR_TYPING
from ringflow.browser_sessions import BROWSER_SESSIONS, BrowserSessions
from ringflow.changes import CONVERSATIONS, MESSAGES
from ringflow.database import SqliteDatabase
from ringflow.inbox.live import InboxLive
from ringflow.inbox.routes import INBOX_LIVE
from ringflow.resources.catalog import CHANGES
from ringflow.resources.chat import LIVE
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS


async def browser_sessions(app: web.Application) -> AsyncIterator[None]:
    """``app[BROWSER_SESSIONS]``: the pages' session cookies. Nothing to close."""
    app[BROWSER_SESSIONS] = BrowserSessions(app[DATABASE], app[CLOCK], app[SETTINGS].public_url)
    yield


async def inbox_live(app: web.Application) -> AsyncIterator[None]:
    """``app[INBOX_LIVE]``: tells open inboxes which conversations changed, fed by the change
    feed's ``conversations`` topic (on SQLite, this process's commits are heard at once), and
    which chat visitors are typing, fed by the chat's live hub."""
    db, feed = app[DATABASE], app[CHANGES]
    hub = InboxLive(db)
    await hub.start()
    if isinstance(db, SqliteDatabase):
        feed.hear_commits(db)
    feed.subscribe(CONVERSATIONS, hub.changed)
    feed.subscribe(MESSAGES, hub.texts_changed, polled=False)
    live = app.get(LIVE)
    unsubscribe = live.subscribe(VISITOR_TYPING, INBOX_KEY, hub.typing) if live else None
    app[INBOX_LIVE] = hub
    try:
        yield
    finally:
        if unsubscribe is not None:
            unsubscribe()
        hub.close()
