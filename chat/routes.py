"""The web chat's routes: the widget's files, the demo page and the WebSocket.

``GET /chat/widget.js`` and ``/chat/widget.css`` are the embeddable widget (plain files, no
build step); ``GET /chat`` a page that opens it; ``GET /chat/socket`` the WebSocket.

The socket's protocol (JSON text frames):

* the widget first sends ``{"type": "hello", "visitor": <id or null>, "after": <last message
  id it has>, "identity": <JSON text or null>, "identity_hmac": <hex or null>}`` within
  :data:`HELLO_SECONDS`; the server answers ``{"type": "welcome", "visitor": <id>}`` (a new
  id when none or a forged one was presented) and then every message after ``after``, and
  each new one as it is written, in any process: ``{"type": "message", "id", "from"
  ("visitor", "bot" or "agent"), "text", "buttons"?: [{"key", "label"}], "client_key"?}``.
  Messages come in id order, each once per connection (the connection's cursor).
* then ``{"type": "message", "text", "choice"?: <a button's key>, "client_key"?}`` and
  ``{"type": "contact", "name"?, "email"?, "phone"?}``; what cannot be taken is answered
  ``{"type": "error", "code", "message"}``.
* typing indicators (:mod:`chat.typing`), never stored: the widget sends ``{"type":
  "typing"}`` while the visitor types (about every 2 s; the server drops more than
  :data:`chat.typing.AT_MOST` in 2 s, and any before the visitor has a conversation), which the
  inbox of the agent reading the visitor's conversation shows; the server sends ``{"type":
  "typing", "from": "agent", "name": <the agent's display name or null>}`` while an agent types
  a reply (never a note) to this visitor, which the widget shows for a few seconds or until
  the next message.

Access is the visitor id: no cookie is involved, so a page of another site cannot ride on
the visitor's session (cross-site WebSocket hijacking needs ambient credentials). The
``Origin`` check (``RINGFLOW_CHAT_ORIGINS``) restricts which sites may embed the chat at all.
Frames are at most :data:`MAX_FRAME_BYTES`; a visitor sends at most :data:`BURST` messages
per :data:`BURST_SECONDS`. Without any notice a socket still re-reads every
:data:`LOOK_AGAIN_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import WSMsgType, web

from chat.messages import PAGE, TOPIC
from chat.service import ChatService, VisitorError
from chat.typing import AGENT_TYPING, ChatTyping, Throttle
from chat.visitors import Visitor, VisitorKeys, verify_identity
from ringflow.live import LiveHub
from ringflow.metrics import METRICS

log = logging.getLogger(__name__)

STATIC: Final = Path(__file__).resolve().parent / "static"
HELLO_SECONDS: Final = 10.0
MAX_FRAME_BYTES: Final = 16 * 1024
HEARTBEAT_SECONDS: Final = 25.0
BURST: Final = 20
BURST_SECONDS: Final = 10.0
LOOK_AGAIN_SECONDS: Final = 30.0
"""A socket re-reads from its cursor this often even without a notice: the fallback for
writers that cannot notify it (a separate worker process on SQLite)."""


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """What the chat routes need, set by the server's chat resource."""

    service: ChatService
    typing: ChatTyping
    keys: VisitorKeys
    hub: LiveHub
    identity_secret: bytes | None
    origins: tuple[str, ...]


CHAT: web.AppKey[ChatConfig] = web.AppKey("chat", ChatConfig)


def _file(name: str, content_type: str) -> Any:
    async def serve(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            STATIC / name,
            headers={"Content-Type": content_type, "Cache-Control": "public, max-age=300"},
        )

    return serve


def routes() -> list[web.AbstractRouteDef]:
    """The chat's routes."""
    return [
        web.get("/chat", _file("page.html", "text/html; charset=utf-8")),
        web.get("/chat/widget.js", _file("widget.js", "text/javascript; charset=utf-8")),
        web.get("/chat/widget.css", _file("widget.css", "text/css; charset=utf-8")),
        web.get("/chat/socket", chat_socket),
    ]


def origin_allowed(origins: tuple[str, ...], request: web.Request) -> bool:
    """Whether the page that opens the socket may (any page when ``origins`` is empty; the
    server's own pages always)."""
    if not origins:
        return True
    origin = request.headers.get("Origin", "").rstrip("/")
    own = f"{request.scheme}://{request.host}"
    return origin in origins or origin == own


async def chat_socket(request: web.Request) -> web.StreamResponse:
    """One widget's connection (see the module docstring)."""
    config = request.app[CHAT]
    if not origin_allowed(config.origins, request):
        raise web.HTTPForbidden(text="this site may not open the chat")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    metrics = request.app[METRICS]
    metrics.chat_connected()
    try:
        await Connection(config, ws).run()
    finally:
        metrics.chat_disconnected()
    return ws


class Connection:
    """One open socket: its visitor, its cursor, its sender task."""

    def __init__(self, config: ChatConfig, ws: web.WebSocketResponse) -> None:
        self._config = config
        self._ws = ws
        self._cursor = 0
        self._wake = asyncio.Event()
        self._look = True
        """Whether the sender should read messages when it wakes (a notice came, or it is
        time to look again anyway)."""
        self._sent: list[float] = []
        self._typing = Throttle()
        self._agent_typing: list[str | None] = []
        """Agents typing since the sender last looked (their names): at most one frame."""

    async def run(self) -> None:
        try:
            async with asyncio.timeout(HELLO_SECONDS):
                hello = await self._ws.receive()
        except TimeoutError:
            await self._ws.close(code=4000, message=b"no hello")
            return
        frame = _frame(hello)
        if frame is None or frame.get("type") != "hello":
            await self._ws.close(code=4000, message=b"hello first")
            return
        visitor = await self._greet(frame)
        hub = self._config.hub
        unsubscribe = hub.subscribe(TOPIC, visitor.id, self._notified)
        unsubscribe_typing = hub.subscribe(AGENT_TYPING, visitor.id, self._typed)
        sender = asyncio.create_task(self._sending(visitor), name="chat-send")
        try:
            await self._read_loop(visitor)
        finally:
            unsubscribe()
            unsubscribe_typing()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _greet(self, frame: Mapping[str, Any]) -> Visitor:
        config = self._config
        token = frame.get("visitor")
        public = config.keys.check(token)
        if public is None:
            public, token = config.keys.issue()
        else:
            after = frame.get("after")
            self._cursor = after if isinstance(after, int) and after >= 0 else 0
        identity = verify_identity(
            config.identity_secret, frame.get("identity"), frame.get("identity_hmac")
        )
        arrival = await config.service.arrive(public, identity)
        await self._ws.send_json(
            {"type": "welcome", "visitor": token, "verified": identity is not None}
        )
        self._wake.set()  # what the widget has not seen yet
        return arrival.visitor

    def _notified(self, _data: Mapping[str, Any] | None) -> None:
        self._look = True
        self._wake.set()

    def _typed(self, data: Mapping[str, Any] | None) -> None:
        if data is None:
            return  # "look again" after a lost connection: a typing notice is not re-read
        name = data.get("name")
        self._agent_typing[:] = [name if isinstance(name, str) else None]
        self._wake.set()

    async def _sending(self, visitor: Visitor) -> None:
        """The send loop; should it fail (the database unreachable, the socket gone), the
        socket is closed and the widget reconnects and resumes from its cursor."""
        try:
            await self._send_loop(visitor)
        except (OSError, RuntimeError) as error:  # aiohttp's reset errors are OSErrors
            log.warning("chat socket of visitor %d: sending stopped: %s", visitor.id, error)
        except Exception:
            log.exception("chat socket of visitor %d: sending failed", visitor.id)
        with contextlib.suppress(Exception):
            await self._ws.close(code=1011, message=b"try again")

    async def _send_loop(self, visitor: Visitor) -> None:
        service = self._config.service
        while True:
            try:
                async with asyncio.timeout(LOOK_AGAIN_SECONDS):
                    await self._wake.wait()
            except TimeoutError:
                self._look = True
            self._wake.clear()
            # Before the messages: a reply that ends the typing comes after it, and hides it.
            if self._agent_typing:
                name = self._agent_typing.pop()
                await self._ws.send_json({"type": "typing", "from": "agent", "name": name})
            if not self._look:
                continue  # woken for the typing only: no message to read
            self._look = False
            while True:
                cursor = self._cursor
                batch = await service.messages_after(visitor.id, cursor)
                for message in batch:
                    await self._ws.send_json(message.frame())
                    self._cursor = message.id
                if len(batch) < PAGE:
                    break

    async def _read_loop(self, visitor: Visitor) -> None:
        async for raw in self._ws:
            if raw.type != WSMsgType.TEXT:
                continue
            frame = _frame(raw)
            if frame is None:
                await self._error("bad_frame", "frames are JSON objects")
                continue
            try:
                visitor = await self._act(visitor, frame)
            except VisitorError as error:
                await self._error(error.code, str(error))

    async def _act(self, visitor: Visitor, frame: Mapping[str, Any]) -> Visitor:
        kind = frame.get("type")
        service = self._config.service
        if kind == "message":
            self._throttle()
            text, choice, key = frame.get("text"), frame.get("choice"), frame.get("client_key")
            if not isinstance(text, str):
                raise VisitorError("bad_frame", "a message needs a text")
            await service.say(
                visitor,
                text,
                choice=choice if isinstance(choice, str) else None,
                client_key=key if isinstance(key, str) else None,
            )
        elif kind == "contact":
            self._throttle()
            fields = [frame.get(name) for name in ("name", "email", "phone")]
            name, email, phone = (value if isinstance(value, str) else None for value in fields)
            visitor = await service.introduce(visitor, name, email, phone)
            await self._ws.send_json({"type": "contact", "name": visitor.name})
        elif kind == "typing":
            # Dropped quietly when too soon: the widget only misses a refresh it did not need.
            if self._typing.allow("visitor"):
                try:
                    await self._config.typing.visitor_typing(visitor)
                except Exception as error:  # a nicety: the database unreachable ends no chat
                    log.warning("visitor %d typing not signalled: %s", visitor.id, error)
        elif kind == "ping":
            await self._ws.send_json({"type": "pong"})
        else:
            raise VisitorError("bad_frame", f"unknown frame type {str(kind)[:20]!r}")
        return visitor

    def _throttle(self) -> None:
        now = time.monotonic()
        self._sent = [at for at in self._sent if now - at < BURST_SECONDS]
        if len(self._sent) >= BURST:
            raise VisitorError("slow_down", "too many messages at once; wait a moment")
        self._sent.append(now)

    async def _error(self, code: str, message: str) -> None:
        await self._ws.send_json({"type": "error", "code": code, "message": message})


def _frame(raw: Any) -> dict[str, Any] | None:
    if raw.type != WSMsgType.TEXT:
        return None
    try:
        data = json.loads(raw.data)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
