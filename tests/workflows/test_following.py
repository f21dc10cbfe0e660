"""Two server instances on one PostgreSQL: a schedule, an override or a workflow changed
through one is in the other's catalog within a second (LISTEN/NOTIFY, not the 5 s poll)."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import pytest

from server import CATALOG
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.conftest import ServerFactory, eventually

AT_ONCE = 1.0
"""Seconds: well under the fallback poll's five."""


async def arrives(check: Callable[[], bool], what: str) -> None:
    started = time.monotonic()
    await eventually(check, within=AT_ONCE, what=what)
    assert time.monotonic() - started < AT_ONCE


async def test_changes_through_one_instance_reach_the_other_at_once(
    servers: ServerFactory, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite instances poll (ringflow.changes.POLL_EVERY_S)")
    one = await servers.start(admin_token=ADMIN_TOKEN)
    two = await servers.start(admin_token=ADMIN_TOKEN)
    catalog = two.app[CATALOG]
    async with aiohttp.ClientSession() as session:
        api = ApiClient(one, session)
        night = {"timezone": "Asia/Seoul", "weekly": {"mon": ["22:00-23:00"]}}
        assert (await api.call("PUT", "/schedules/night", json_body=night)).status == 201
        await arrives(lambda: "night" in catalog.schedules.names, "the stored schedule")

        opened = await api.call("PUT", "/schedules/night/override", json_body={"open": True})
        assert opened.status == 200
        await arrives(
            lambda: (
                "night" in catalog.schedules.overrides and catalog.schedules.overrides["night"].open
            ),
            "the override",
        )
        cleared = await api.call("DELETE", "/schedules/night/override")
        assert cleared.status == 200
        await arrives(lambda: "night" not in catalog.schedules.overrides, "its clearing")

        flow = 'id: night-line\ntrigger: {event: call.incoming, to: "+15005550008"}\n'
        flow += 'start: hello\nsteps:\n  hello: {say: "Good night."}\n'
        published = await api.call(
            "POST",
            "/workflows",
            data=flow,
            content_type="application/yaml",
            params={"publish": "true"},
        )
        assert published.status == 201
        await arrives(
            lambda: any(a.workflow.id == "night-line" for a in catalog.active),
            "the workflow",
        )
        disabled = await api.call("POST", "/workflows/night-line/disable")
        assert disabled.status in (200, 204), disabled.text
        await arrives(
            lambda: all(a.workflow.id != "night-line" for a in catalog.active),
            "the disabling",
        )
