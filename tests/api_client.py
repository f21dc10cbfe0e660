"""A client of the admin API that sends a token, and the ``api`` fixture (a server with an
admin token and such a client), registered in ``tests/conftest.py``."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, ServerFactory

ADMIN_TOKEN = "rf_" + "t" * 43


@dataclass
class Answer:
    """An API answer: status, content type, headers, body (JSON when it is JSON)."""

    status: int
    content_type: str
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class ApiClient:
    """Calls ``/api`` on a running server with a token (or another, or none)."""

    server: RunningServer
    session: aiohttp.ClientSession
    token: str | None = ADMIN_TOKEN

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: str | bytes | None = None,
        content_type: str | None = None,
        token: str | bool | None = True,
        params: dict[str, str] | None = None,
        form: aiohttp.FormData | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        headers = dict(headers or {})
        chosen = self.token if token is True else (None if token is False else token)
        if chosen:
            headers["Authorization"] = f"Bearer {chosen}"
        if content_type is not None:
            headers["Content-Type"] = content_type
        body: Any = io.BytesIO(data.encode() if isinstance(data, str) else data) if data else None
        if form is not None:
            body = form
        async with self.session.request(
            method,
            self.server.base_url + "/api" + path,
            json=json_body,
            data=body,
            headers=headers,
            params=params,
        ) as response:
            return Answer(
                response.status,
                response.content_type,
                dict(response.headers),
                await response.text(),
            )


@pytest.fixture
async def api(servers: ServerFactory) -> AsyncIterator[ApiClient]:
    """A server (the demo workflow, an admin token) and a client with that token."""
    server = await servers.start(admin_token=ADMIN_TOKEN)
    async with aiohttp.ClientSession() as session:
        yield ApiClient(server, session)
