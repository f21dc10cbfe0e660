"""The PBX adapter: follows an Asterisk PBX over AMI and makes its calls Ringflow calls.

One task owns the connection (:meth:`PbxAdapter.run`): it connects and logs in, catches up
with Asterisk (``CoreShowChannels`` for calls, ``QueueStatus`` for queue members), then, until
the connection is lost, handles events in the order they came, pings Asterisk every
``ping_interval`` seconds (a connection that does not answer within ``ping_timeout`` is
closed and dialled again) and mirrors agents' statuses out. A lost connection is dialled
again with exponential backoff (``reconnect_min`` doubling to ``reconnect_max``, with
jitter) and caught up again: AMI does not replay what happened meanwhile. Everything it
records is keyed by Asterisk's ids (:mod:`pbx.store`), so catching up twice records nothing
twice.

Callbacks on an Asterisk line use :meth:`PbxAdapter.originate`: an ``Originate`` whose
answer was lost with the connection is never sent again blindly (see its docstring); their
events go to :class:`pbx.callbacks.PbxCallbackEvents` (given as ``callbacks``), in order with
the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from sqlalchemy import Connection

from pbx.calls import CALL_EVENTS, CallChange, CallTracker, Numbers, PbxCall, outcome
from pbx.client import AmiLink
from pbx.errors import AmiActionFailed, AmiClosed, AmiError, OriginateUnclear
from pbx.ownership import Ownership
from pbx.presence import MEMBER_EVENTS, PauseOut, PresenceMirror, StatusIn, agent_named
from pbx.store import open_calls, record_answered, record_ended, record_started
from ringflow.clock import Clock
from ringflow.database import Database
from workflows.catalog import WorkflowCatalog
from workflows.people.agents import Agent, list_agents, set_status
from workflows.triggers import CALL_AFTER_HOURS

log = logging.getLogger(__name__)

T = TypeVar("T")
WRITE_RETRIES = (0.2, 1.0, 5.0)
"""Seconds before each new try of a failed write; after the last, the change is logged and
left to the next catch-up (the log's open calls are caught up at every reconnect)."""

CALLBACK_EVENTS = frozenset({"OriginateResponse", "DialEnd", "Hangup"})
"""The events a callback's placement is ended by (:mod:`pbx.callbacks`)."""
ORIGINATE_VARIABLE = "RINGFLOW_ORIGINATE"
"""The channel variable an ``Originate`` carries: its key, looked up before any retry."""


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """Where the PBX is and how to watch it (``RINGFLOW_AMI_*``)."""

    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    ping_interval: float = 5.0
    ping_timeout: float = 5.0
    action_timeout: float = 10.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    presence_interval: float = 1.0
    contexts: frozenset[str] = frozenset()
    """Dialplan contexts inbound calls start in (``RINGFLOW_AMI_CONTEXTS``; empty: any)."""


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What became of an ``Originate``: ``answered``/``failed`` by Asterisk's
    ``OriginateResponse``, or ``in_progress`` (found live by its key after a reconnect)."""

    key: str
    state: Literal["answered", "failed", "in_progress"]
    reason: str = ""
    channel: str = ""


class PbxAdapter:
    """The AMI channel adapter (see the module)."""

    def __init__(
        self,
        settings: AmiSettings,
        db: Database,
        catalog: WorkflowCatalog,
        clock: Clock,
        *,
        numbers: Numbers,
        wake: Callable[[], None] | None = None,
        ownership: Ownership | None = None,
        callbacks: Callable[[dict[str, str]], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._catalog = catalog
        self._clock = clock
        self._wake = wake
        self._ownership = ownership or Ownership(None, settings.host)
        self.tracker = CallTracker(numbers, settings.contexts)
        self.presence = PresenceMirror()
        self._agents: Sequence[Agent] = ()
        self._link: AmiLink | None = None
        self._stopping = False
        self.connected = asyncio.Event()
        self.connections = 0
        """How many times it logged in (tests and metrics: reconnects)."""
        self._originates: dict[str, asyncio.Future[OriginateResult]] = {}
        self._unclear: set[str] = set()
        self._thread_listeners: list[Callable[[dict[str, str]], None]] = []
        self._callbacks = callbacks
        self._hangups: set[asyncio.Task[None]] = set()

    # --- the connection's life ---------------------------------------------------------

    async def run(self) -> None:
        """Connect, catch up, follow; again after every loss, until :meth:`stop`."""
        delay = self._settings.reconnect_min
        while not self._stopping:
            await self._ownership.acquire()
            link = AmiLink(asyncio.get_running_loop(), action_timeout=self._settings.action_timeout)
            for listener in self._thread_listeners:
                link.add_thread_listener(listener)
            try:
                await link.open(
                    self._settings.host,
                    self._settings.port,
                    self._settings.username,
                    self._settings.secret,
                    connect_timeout=self._settings.action_timeout,
                )
            except AmiError as error:
                log.warning(
                    "AMI %s:%s: %s; again in %.1f s",
                    self._settings.host,
                    self._settings.port,
                    error,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
                delay = min(delay * 2, self._settings.reconnect_max)
                continue
            delay = self._settings.reconnect_min
            try:
                await self._follow(link)
            except AmiError as error:
                log.warning("AMI: %s; reconnecting", error)
            except Exception:
                log.exception("AMI: following the PBX failed; reconnecting")
            finally:
                self.connected.clear()
                self._link = None
                await link.close()
                self._lost_originates()
            if not self._stopping:
                await asyncio.sleep(self._settings.reconnect_min)

    async def stop(self) -> None:
        """Log off and stop (the task running :meth:`run` ends)."""
        self._stopping = True
        link = self._link
        if link is not None:
            await link.close()
        await self._ownership.release()

    async def _follow(self, link: AmiLink) -> None:
        log.info("AMI: logged in to %s:%s", self._settings.host, self._settings.port)
        await self._resync(link)
        self._link = link
        self.connections += 1
        self.connected.set()
        async with asyncio.TaskGroup() as group:
            helpers = [
                group.create_task(self._ping(link), name="ami-ping"),
                group.create_task(self._mirror_out(link), name="ami-presence"),
                group.create_task(self._keep_ownership(link), name="ami-owner"),
            ]
            await self._consume(link)
            for helper in helpers:
                helper.cancel()

    async def _keep_ownership(self, link: AmiLink) -> None:
        await self._ownership.lost()
        await link.close()

    async def _consume(self, link: AmiLink) -> None:
        while True:
            event = await link.events.get()
            if event is None:
                return
            try:
                await self._handle(event)
            except Exception:
                log.exception("AMI: handling %s failed", event.get("Event", "?"))

    async def _ping(self, link: AmiLink) -> None:
        while True:
            await asyncio.sleep(self._settings.ping_interval)
            try:
                await link.ping(self._settings.ping_timeout)
            except AmiError as error:
                log.warning("AMI: no answer to a ping (%s): closing the connection", error)
                await link.close()
                return

    async def _resync(self, link: AmiLink) -> None:
        """Catch up with what happened while not connected (or before this process ran)."""
        channels = await link.event_list("CoreShowChannels", "CoreShowChannelsComplete")
        for call in await self._db.read(open_calls):
            self.tracker.adopt(call)
        changes = self.tracker.resync(channels, self._clock())
        for change in changes:
            await self._record(change)
        members = await link.event_list("QueueStatus", "QueueStatusComplete")
        self._agents = await self._db.read(list_agents)
        for member in members:
            if member.get("Event") == "QueueMember":
                await self._member(member)
        log.info(
            "AMI: caught up: %d channels, %d calls followed, %d changes",
            len(channels),
            len(self.tracker.calls),
            len(changes),
        )

    # --- events ------------------------------------------------------------------------

    async def _handle(self, event: dict[str, str]) -> None:
        name = event.get("Event", "")
        if name in CALL_EVENTS:
            for change in self.tracker.apply(event, self._clock()):
                await self._record(change)
        elif name in MEMBER_EVENTS:
            await self._member(event)
        if name in CALLBACK_EVENTS and self._callbacks is not None:
            # Before the Originate's caller hears its answer: the placement is recorded first.
            await self._callbacks(event)
        if name == "OriginateResponse":
            self._originate_response(event)

    async def _record(self, change: CallChange) -> None:
        call = change.call
        if change.kind == "started":
            await self._write(lambda conn: record_started(conn, call))
            log.info("PBX call %s started", call.sid)
        elif change.kind == "answered":
            await self._write(lambda conn: record_answered(conn, call))
        else:
            call.agent = agent_named(call.agent_interface, self._agents) or call.agent
            result = outcome(call, after_hours=self._after_hours(call))
            at = change.at

            def end(conn: Connection) -> str | None:
                return record_ended(conn, call, result, at)

            event = await self._write(end)
            log.info("PBX call %s ended: %s (event %s)", call.sid, result, event or "none")
            if event is not None and self._wake is not None:
                self._wake()

    async def _write(self, work: Callable[[Connection], T]) -> T:
        """``work`` in a transaction, tried again (0.2 s, 1 s, 5 s later) when it fails: the
        events behind it wait, in order. Each write is idempotent (:mod:`pbx.store`)."""
        for delay in WRITE_RETRIES:
            try:
                return await self._db.write(work)
            except Exception:
                log.exception("AMI: recording a call failed; again in %.1f s", delay)
                await asyncio.sleep(delay)
        return await self._db.write(work)

    def _after_hours(self, call: PbxCall) -> bool:
        """Whether a call nobody answered came while its line was closed: the hours of the
        workflows taking ``call.after_hours`` for the number called."""
        for active in self._catalog.candidates(CALL_AFTER_HOURS, call.called):
            hours = active.workflow.spec.hours
            if hours is not None and not self._catalog.schedules.is_open(hours, call.started_at):
                return True
        return False

    async def _member(self, event: dict[str, str]) -> None:
        change = self.presence.event_in(event, self._agents)
        if change is None:
            return
        await self._set_status(change)

    async def _set_status(self, change: StatusIn) -> None:
        now = self._clock()
        await self._db.write(lambda conn: set_status(conn, change.agent_id, change.status, now))
        self._agents = await self._db.read(list_agents)
        log.info("AMI: agent %d is %s (queue membership)", change.agent_id, change.status)

    async def _mirror_out(self, link: AmiLink) -> None:
        while True:
            await asyncio.sleep(self._settings.presence_interval)
            try:
                self._agents = await self._db.read(list_agents)
            except Exception:
                log.exception("AMI: reading agents failed")
                continue
            for change in self.presence.changes_out(self._agents):
                await self._pause(link, change)

    async def _pause(self, link: AmiLink, change: PauseOut) -> None:
        try:
            await link.action(
                "QueuePause",
                Interface=change.interface,
                Paused="true" if change.paused else "false",
                Reason="ringflow",
            )
        except AmiActionFailed as error:
            log.warning("AMI: QueuePause %s refused: %s", change.interface, error.message)
            return
        except AmiError as error:  # the connection went: the next one catches up
            log.warning("AMI: QueuePause %s not sent: %s", change.interface, error)
            return
        self.presence.sent(change)
        log.info("AMI: %s %s", "paused" if change.paused else "unpaused", change.interface)

    # --- originate ---------------------------------------------------------------------

    async def originate(
        self,
        key: str,
        channel: str,
        *,
        context: str,
        exten: str,
        priority: str = "1",
        caller_id: str | None = None,
        ring_seconds: int = 30,
        resend_if_absent: bool = False,
    ) -> OriginateResult:
        """Ring ``channel`` and connect it to ``exten`` in ``context``; ``key`` names this
        callback (a job's key) and rides as the ActionID and the channel variable
        ``RINGFLOW_ORIGINATE``.

        An ``Originate`` whose outcome was lost with the connection is *unclear*: asked
        again with the same key, this first looks for a live channel carrying the key
        (``Status`` with that variable) and, if one does, answers ``in_progress`` without
        sending anything. If none does, the call may still have rung and ended:
        :class:`OriginateUnclear`, unless ``resend_if_absent``.
        """
        link = self._link
        if link is None:
            raise AmiClosed("not connected to the PBX")
        if key in self._unclear:
            live = await self._live_originate(link, key)
            if live is not None:
                self._unclear.discard(key)
                return OriginateResult(key, "in_progress", channel=live)
            if not resend_if_absent:
                raise OriginateUnclear(f"originate {key}: outcome unknown, no live channel")
            self._unclear.discard(key)
        future: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
        self._originates[key] = future
        keys = {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": priority,
            "Timeout": str(ring_seconds * 1000),
            "Async": "true",
        }
        if caller_id:
            keys["CallerID"] = caller_id
        try:
            await link.action(
                "Originate",
                keys,
                action_id=f"rf-originate-{key}",
                variables={ORIGINATE_VARIABLE: key},
            )
            async with asyncio.timeout(ring_seconds + self._settings.action_timeout):
                return await asyncio.shield(future)
        except (AmiClosed, TimeoutError) as error:
            self._unclear.add(key)
            raise OriginateUnclear(f"originate {key}: outcome unknown ({error})") from error
        finally:
            self._originates.pop(key, None)

    async def live_originate(self, key: str) -> str | None:
        """The live channel carrying the ``Originate`` key ``key``, or None."""
        link = self._link
        if link is None:
            raise AmiClosed("not connected to the PBX")
        return await self._live_originate(link, key)

    async def channel_up(self, channel: str) -> bool:
        """Whether ``channel`` is up on the PBX now (``Status``)."""
        link = self._link
        if link is None:
            raise AmiClosed("not connected to the PBX")
        found = await link.event_list("Status", "StatusComplete", Channel=channel)
        return any(item.get("Channel") == channel for item in found)

    def hang_up(self, channel: str) -> None:
        """Ask the PBX to hang ``channel`` up (sent in the background; a lost connection
        takes the channel's fate with it, logged)."""

        async def send() -> None:
            try:
                await self.action("Hangup", Channel=channel)
            except AmiError as error:
                log.warning("AMI: Hangup %s not done: %s", channel, error)

        task = asyncio.get_running_loop().create_task(send(), name="ami-hangup")
        self._hangups.add(task)
        task.add_done_callback(self._hangups.discard)

    async def _live_originate(self, link: AmiLink, key: str) -> str | None:
        channels = await link.event_list("Status", "StatusComplete", Variables=ORIGINATE_VARIABLE)
        for item in channels:
            if item.get("Variable", "") == f"{ORIGINATE_VARIABLE}={key}":
                return item.get("Channel", "") or "?"
        return None

    def _originate_response(self, event: dict[str, str]) -> None:
        action_id = event.get("ActionID", "")
        key = action_id.removeprefix("rf-originate-")
        future = self._originates.get(key)
        if future is None or future.done() or not action_id.startswith("rf-originate-"):
            return
        answered = event.get("Response", "").lower() == "success"
        future.set_result(
            OriginateResult(
                key,
                "answered" if answered else "failed",
                reason=event.get("Reason", ""),
                channel=event.get("Channel", ""),
            )
        )

    def _lost_originates(self) -> None:
        for key, future in list(self._originates.items()):
            if not future.done():
                future.set_exception(AmiClosed("the AMI connection was lost"))
            self._unclear.add(key)

    # --- for tests and tools -------------------------------------------------------------

    def add_thread_listener(self, listener: Callable[[dict[str, str]], None]) -> None:
        """Call ``listener`` with every event, on the AMI reader thread (as the library's
        listeners are); what it raises is logged and does not stop the reader."""
        self._thread_listeners.append(listener)
        if self._link is not None:
            self._link.add_thread_listener(listener)

    async def action(self, name: str, **keys: str) -> dict[str, str]:
        """Send an action on the current connection."""
        link = self._link
        if link is None:
            raise AmiClosed("not connected to the PBX")
        return await link.action(name, keys)


async def stopped(task: asyncio.Task[None], adapter: PbxAdapter) -> None:
    """Stop ``adapter`` and wait for its ``task``."""
    await adapter.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
