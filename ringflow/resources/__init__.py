"""The resources a Ringflow process holds, one aiohttp cleanup context each.

A resource is an async generator over the application: it opens what it needs (reading the
resources before it from the app's keys), stores what it offers under its own typed
``web.AppKey``, yields while the process runs, and closes what it opened after the yield.
``server.py`` appends them to ``app.cleanup_ctx`` in order, so they close in reverse:

    database -> catalog -> catalog refresh -> speech and prompts -> SMS provider
    -> job worker -> voice -> chat (live hub) -> admin API state

``ringflow serve`` uses them all; ``ringflow worker`` uses database, catalog, catalog
refresh, SMS provider and job worker: the same functions, never a second copy of the
set-up. A resource that needs something from its caller (the workflows to install, the
server's voice) is made by a small factory that returns the generator.

Unlike the plumbing beside it (database, settings, migrations), this package wires the domain
packages together: it may import them; they never import it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

Resource = Callable[[web.Application], AsyncIterator[None]]
"""One cleanup context: opens a resource, yields while the process runs, closes it."""
