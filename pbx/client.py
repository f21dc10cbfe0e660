"""One AMI connection: ``asterisk-ami``'s client with its defects worked around, bridged to
asyncio.

``asterisk-ami`` 0.1.7 (the library the product names) parses and writes AMI's ``Key: Value``
packets and runs one reader thread per connection. As published it:

1. keeps the connect timeout (3 s) on the socket the reader blocks on, so **3 s without
   traffic kill the reader** and every later event is lost: :class:`PatchedClient` makes the
   socket blocking once it is connected (TCP keepalive on) and leaves liveness to the AMI
   ``Ping`` the adapter sends (:class:`AmiLink.ping`);
2. lets **an exception in a listener (or in its own parsing) kill the reader**: the patched
   reader catches and logs whatever one packet raises and reads on;
3. writes actions with an **unlocked** ``socket.send`` (which may also write part of a
   packet) from whichever thread calls it, and counts ActionIDs unlocked: sends here go
   through one lock and ``sendall``;
4. answers actions through ``FutureResponse``, whose ``notifyAll`` is deprecated (a warning
   on the reader thread, an error under ``-W error``) and whose error path names an unimported
   ``traceback``: responses here resolve asyncio futures instead.

The bridge: the reader thread never touches the event loop but through
``loop.call_soon_threadsafe`` (events into an ``asyncio.Queue``, responses into futures);
sends run in the default executor, so the loop never blocks on the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from asterisk.ami import AMIClient, Event, Response
from asterisk.ami.action import Action

from pbx.errors import AmiActionFailed, AmiClosed, AmiError, AmiTimeout

log = logging.getLogger(__name__)

__all__ = ["AmiActionFailed", "AmiClosed", "AmiError", "AmiLink", "AmiTimeout", "PatchedClient"]

AmiMessage = Mapping[str, str]
"""An event's or a response's keys (``Event``/``Response`` included), as AMI sent them."""


class PatchedClient(AMIClient):  # type: ignore[misc]
    """``AMIClient`` with a reader that survives silence and bad packets, and locked sends.

    ``on_packet(kind, keys)`` gets every response (``kind`` "response") and event ("event")
    on the reader thread; ``on_closed(error)`` once when the reader stops. Both must be cheap
    and must not raise (what they raise is logged and ignored anyway).
    """

    def __init__(
        self,
        address: str,
        port: int,
        *,
        connect_timeout: float,
        on_packet: Callable[[str, dict[str, str]], None],
        on_closed: Callable[[BaseException | None], None],
    ) -> None:
        super().__init__(address=address, port=port, timeout=connect_timeout)
        self._on_packet = on_packet
        self._on_closed = on_closed
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.version: str | None = None
        self.thread_listeners: list[Callable[[dict[str, str]], None]] = []
        """Called with every event on this reader thread (the library's listener model)."""

    def connect(self) -> None:
        """Connect (bounded by the connect timeout), then read with a blocking socket."""
        sock = socket.create_connection((self._address, self._port), timeout=self._timeout)
        # The library's defect 1: a timeout left on the socket kills the reader in silence.
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._socket = sock
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self.listen, name="ami-reader", daemon=True)
        self._thread.start()

    def listen(self) -> None:
        """The reader thread: the banner, then one packet after another until the end."""
        error: BaseException | None = None
        try:
            packets = self._next_pack()
            banner = next(packets, "")
            match = AMIClient.asterisk_start_regex.match(banner)
            if not match:
                raise AmiClosed(f"not an Asterisk manager interface: {banner[:40]!r}")
            self.version = match.group("version")
            for pack in packets:
                self._dispatch(pack)
        except Exception as exc:  # the socket closed under the reader, or a bad banner
            error = exc
        finally:
            self.finished.set()
            with contextlib.suppress(OSError):
                self._socket.close()
            try:
                self._on_closed(None if self._closing else error)
            except Exception:
                log.exception("AMI: the close callback raised")

    _closing = False

    def _dispatch(self, pack: str) -> None:
        # The library's defect 2: whatever one packet raises (parsing or a listener) is
        # logged, and the reader goes on with the next.
        try:
            if Response.match(pack):
                response = Response.read(pack)
                self._on_packet("response", {"Response": response.status, **response.keys})
            elif Event.match(pack):
                event = Event.read(pack)
                keys = {k: v for k, v in event.keys.items() if isinstance(v, str)}
                message = {"Event": event.name, **keys}
                for listener in self.thread_listeners:
                    try:
                        listener(dict(message))
                    except Exception:
                        log.exception(
                            "AMI: a listener raised on %s; the reader goes on", event.name
                        )
                self._on_packet("event", message)
            else:
                log.debug("AMI: unknown packet ignored (%d chars)", len(pack))
        except Exception:
            log.exception("AMI: a packet's handling raised; the reader goes on")

    def next_action_id(self) -> str:
        """A fresh ActionID (under the send lock: the library's counter is unlocked)."""
        return f"rf-{next(self._ids)}"

    def send_packet(self, name: str, keys: Mapping[str, str], variables: Mapping[str, str]) -> None:
        """Write one action, whole, under the send lock (the library's defect 3)."""
        action = Action(name, dict(keys), dict(variables))
        data = (str(action) + "\r\n").encode(self.encoding)
        with self._send_lock:
            if self.finished is None or self.finished.is_set():
                raise AmiClosed("the AMI connection is closed")
            try:
                self._socket.sendall(data)
            except OSError as error:
                raise AmiClosed(f"sending {name} failed: {error}") from error

    def close(self) -> None:
        """Close the socket; the reader ends (``on_closed(None)``)."""
        self._closing = True
        if self.finished is not None:
            self.finished.set()
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(2)


@dataclass
class _Pending:
    """An action waiting for its response (and, for a list, its events)."""

    future: asyncio.Future[list[dict[str, str]]]
    complete_event: str | None = None
    items: list[dict[str, str]] = field(default_factory=list)
    response: dict[str, str] | None = None


class AmiLink:
    """One logged-in AMI connection, seen from asyncio.

    Events arrive in :attr:`events` (an ``asyncio.Queue`` of dicts; ``None`` once when the
    connection is gone). :meth:`action` sends an action and returns its response;
    :meth:`event_list` one that answers with an event list (``EventList: start`` ...
    ``<X>Complete``) and returns its items. The secret is sent once, at login, and never
    logged.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, action_timeout: float = 10.0) -> None:
        self._loop = loop
        self._timeout = action_timeout
        self.events: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()
        self._pending: dict[str, _Pending] = {}
        self._client: PatchedClient | None = None
        self._listeners: list[Callable[[dict[str, str]], None]] = []
        self.closed = asyncio.Event()

    def add_thread_listener(self, listener: Callable[[dict[str, str]], None]) -> None:
        """Call ``listener`` with every event on the reader thread (before it reaches the
        loop); what it raises is logged and the reader goes on."""
        self._listeners.append(listener)

    async def open(
        self, host: str, port: int, username: str, secret: str, *, connect_timeout: float = 5.0
    ) -> None:
        """Connect and log in; :class:`AmiError` when that fails."""
        client = PatchedClient(
            host,
            port,
            connect_timeout=connect_timeout,
            on_packet=self._from_reader,
            on_closed=self._closed_from_reader,
        )
        client.thread_listeners = self._listeners
        try:
            await asyncio.to_thread(client.connect)
        except OSError as error:
            raise AmiClosed(f"cannot connect to {host}:{port}: {error}") from error
        self._client = client
        try:
            await self.action("Login", Username=username, Secret=secret, Events="on")
        except BaseException:
            await self.close()
            raise

    # --- reader thread side: only call_soon_threadsafe ---------------------------------

    def _from_reader(self, kind: str, keys: dict[str, str]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under a late packet
            self._loop.call_soon_threadsafe(self._received, kind, keys)

    def _closed_from_reader(self, error: BaseException | None) -> None:
        if error is not None:
            log.warning("AMI connection lost: %s", error)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._lost)

    # --- event loop side ---------------------------------------------------------------

    def _received(self, kind: str, keys: dict[str, str]) -> None:
        action_id = keys.get("ActionID", "")
        pending = self._pending.get(action_id) if action_id else None
        if kind == "response":
            if pending is None:
                return
            pending.response = keys
            if keys.get("Response", "").lower() == "error":
                self._finish(action_id, error=keys.get("Message", "error"))
            elif pending.complete_event is None or keys.get("EventList", "").lower() != "start":
                self._finish(action_id)
            return
        if pending is not None and pending.complete_event is not None:
            if keys.get("Event") == pending.complete_event:
                self._finish(action_id)
            else:
                pending.items.append(keys)
            return
        self.events.put_nowait(keys)

    def _finish(self, action_id: str, error: str | None = None) -> None:
        pending = self._pending.pop(action_id)
        if pending.future.done():
            return
        if error is not None:
            pending.future.set_exception(AmiActionFailed(action_id, error))
        elif pending.complete_event is None:
            pending.future.set_result([pending.response or {}])
        else:
            pending.future.set_result(pending.items)

    def _lost(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for action_id in list(self._pending):
            pending = self._pending.pop(action_id)
            if not pending.future.done():
                pending.future.set_exception(AmiClosed("the AMI connection was lost"))
        self.events.put_nowait(None)

    async def _send(
        self,
        name: str,
        keys: Mapping[str, str],
        variables: Mapping[str, str],
        complete_event: str | None,
        action_id: str | None,
        wait: float | None,
    ) -> list[dict[str, str]]:
        client = self._client
        if client is None or self.closed.is_set():
            raise AmiClosed("the AMI connection is closed")
        action_id = action_id or client.next_action_id()
        future: asyncio.Future[list[dict[str, str]]] = self._loop.create_future()
        self._pending[action_id] = _Pending(future, complete_event)
        try:
            await asyncio.to_thread(
                client.send_packet, name, {**keys, "ActionID": action_id}, variables
            )
            async with asyncio.timeout(wait or self._timeout):
                return await future
        except TimeoutError:
            raise AmiTimeout(f"{name}: no answer in {wait or self._timeout} s") from None
        except AmiActionFailed as failed:
            raise AmiActionFailed(name, failed.message) from None
        finally:
            self._pending.pop(action_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: the send itself may have failed first

    async def action(
        self,
        name: str,
        fields: Mapping[str, str] | None = None,
        *,
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
        wait: float | None = None,
        **keys: str,
    ) -> dict[str, str]:
        """Send action ``name`` with ``fields`` and ``keys`` and return its response's keys."""
        message = {**(fields or {}), **keys}
        result = await self._send(name, message, variables or {}, None, action_id, wait)
        return result[0]

    async def event_list(
        self, name: str, complete_event: str, *, wait: float | None = None, **keys: str
    ) -> list[dict[str, str]]:
        """Send action ``name`` that answers with an event list; the list's events, up to
        (not including) ``complete_event``."""
        return await self._send(name, keys, {}, complete_event, None, wait)

    async def ping(self, wait: float) -> None:
        """An AMI ``Ping``: :class:`AmiError` when the connection does not answer in time."""
        await self.action("Ping", wait=wait)

    async def close(self) -> None:
        """Log off (briefly) and close; the reader thread ends."""
        client = self._client
        if client is None:
            return
        self._client = None
        if not self.closed.is_set():
            with contextlib.suppress(AmiError, OSError):
                await asyncio.to_thread(client.send_packet, "Logoff", {}, {})
        await asyncio.to_thread(client.close)
        self._lost()

    @property
    def version(self) -> str | None:
        """The AMI version of the banner (``Asterisk Call Manager/5.0.2``)."""
        return None if self._client is None else self._client.version
