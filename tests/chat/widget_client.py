"""A chat widget's side of the WebSocket, in Python: what the browser's widget does, for the
tests that check the protocol (the browser tests drive the real widget)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiohttp

from tests.conftest import eventually


class Reachable(Protocol):
    """A server the widget connects to (a test server, or a ``ringflow serve`` process)."""

    @property
    def base_url(self) -> str: ...


class Widget:
    """One open socket: every frame received is kept in ``frames``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            if raw.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(json.loads(raw.data))

    @property
    def visitor(self) -> str:
        """The visitor id the server issued (from its welcome)."""
        return str(next(f for f in self.frames if f["type"] == "welcome")["visitor"])

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "message"]

    def texts(self, sender: str | None = None) -> list[str]:
        return [m["text"] for m in self.messages if sender is None or m["from"] == sender]

    async def wait(self, check: Callable[[Widget], bool], what: str, within: float = 5) -> None:
        await eventually(lambda: check(self), within=within, what=what)

    async def wait_for_text(self, fragment: str, within: float = 5) -> dict[str, Any]:
        await self.wait(lambda w: any(fragment in t for t in w.texts()), repr(fragment), within)
        return next(m for m in self.messages if fragment in m["text"])

    async def say(self, text: str, *, choice: str | None = None, key: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "message", "text": text}
        if choice is not None:
            frame["choice"] = choice
        if key is not None:
            frame["client_key"] = key
        await self.ws.send_json(frame)

    async def typing(self, **extra: Any) -> None:
        """Say the visitor is typing (``extra``: fields a forged frame adds)."""
        await self.ws.send_json({"type": "typing", **extra})

    def typing_frames(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "typing"]

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


@asynccontextmanager
async def widget(
    server: Reachable,
    *,
    visitor: str | None = None,
    after: int = 0,
    headers: dict[str, str] | None = None,
    **hello: Any,
) -> AsyncIterator[Widget]:
    """A connected widget that said hello (and got its welcome)."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(server.base_url + "/chat/socket", headers=headers) as ws,
    ):
        await ws.send_json({"type": "hello", "visitor": visitor, "after": after, **hello})
        opened = Widget(ws)
        await opened.wait(lambda w: any(f["type"] == "welcome" for f in w.frames), "welcome")
        try:
            yield opened
        finally:
            await opened.close()
