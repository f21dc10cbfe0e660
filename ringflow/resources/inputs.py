"""What every resource reads: the settings and the clock, set by ``server.create_app``."""

from __future__ import annotations

from aiohttp import web

from ringflow.clock import Clock
from ringflow.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
"""What "now" means to business hours, quiet hours and jobs (tests move it)."""
