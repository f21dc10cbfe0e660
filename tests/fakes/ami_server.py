"""A local Asterisk manager interface (AMI) for tests: real TCP, AMI's real protocol.

What Asterisk does on port 5038, as far as Ringflow uses it: the banner
``Asterisk Call Manager/5.0.2``; ``Key: Value`` lines ending in CRLF, a blank line ending each
packet; ``Login`` (a wrong secret is refused); every action answered with its ``ActionID``;
``Ping``; the event lists of ``CoreShowChannels``, ``QueueStatus`` and ``Status``
(``EventList: start`` ... ``<X>Complete`` with ``EventList: Complete`` and ``ListItems``);
``QueuePause`` (which emits ``QueueMemberPause``); ``Originate`` (``Async``: answered at once,
then an ``OriginateResponse`` event); ``Logoff`` (``Goodbye``). Events are sent only to logged
in sessions.

The PBX's state (live channels, queue members) follows the events a test emits, so what
``CoreShowChannels`` lists after a reconnect is what a real PBX would list. Event streams are
text fixtures in ``tests/pbx/fixtures/*.ami``, written as Asterisk 18 sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

FIXTURES = Path(__file__).resolve().parents[1] / "pbx" / "fixtures"
BANNER = "Asterisk Call Manager/5.0.2"


def read_events(name: str) -> list[dict[str, str]]:
    """The events of fixture ``name`` (``answered`` -> ``tests/pbx/fixtures/answered.ami``):
    packets separated by blank lines, ``#`` lines are comments."""
    text = (FIXTURES / f"{name}.ami").read_text(encoding="utf-8")
    events: list[dict[str, str]] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        if not lines:
            continue
        event: dict[str, str] = {}
        for line in lines:
            key, _, value = line.partition(":")
            event[key] = value.removeprefix(" ")
        events.append(event)
    return events


def packet(fields: Iterable[tuple[str, str]]) -> bytes:
    """One AMI packet on the wire."""
    return ("".join(f"{key}: {value}\r\n" for key, value in fields) + "\r\n").encode()


@dataclass
class _Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    logged_in: bool = False


@dataclass
class FakeAsterisk:
    """The fake PBX; ``async with FakeAsterisk() as pbx`` listens on ``pbx.port``."""

    username: str = "ringflow"
    secret: str = "s3cret-AMI"
    channels: dict[str, dict[str, str]] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    actions: list[dict[str, str]] = field(default_factory=list)
    logins: int = 0
    answer_originates: bool = True
    originate_failure: str | None = None
    """An ``OriginateResponse`` ``Reason`` (``3``: no answer, ``5``: busy) to fail the next
    Originates with; None: they are answered."""
    mute: bool = False
    """A hung PBX: the connection stays open and nothing is answered."""
    _sessions: list[_Session] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1764730000))

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def add_member(self, queue: str, interface: str, name: str, *, paused: bool = False) -> None:
        """A queue member, as ``queues.conf`` or ``QueueAdd`` would make it."""
        self.members[interface] = {
            "Queue": queue,
            "MemberName": name,
            "Interface": interface,
            "StateInterface": interface,
            "Membership": "static",
            "Penalty": "0",
            "CallsTaken": "0",
            "LastCall": "0",
            "LastPause": "0",
            "InCall": "0",
            "Status": "1",
            "Paused": "1" if paused else "0",
            "PausedReason": "",
            "Wrapuptime": "0",
        }

    # --- what a test does ------------------------------------------------------------------

    async def emit(self, event: Mapping[str, str]) -> None:
        """Something happened on the PBX: its state changes, logged-in sessions hear it."""
        self._apply(event)
        data = packet(event.items())
        for session in list(self._sessions):
            if session.logged_in and not session.writer.is_closing():
                session.writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await session.writer.drain()

    async def play(self, events: Iterable[Mapping[str, str]], gap: float = 0.0) -> None:
        """Emit ``events`` in order (``gap`` seconds apart)."""
        for event in events:
            await self.emit(event)
            if gap:
                await asyncio.sleep(gap)

    async def drop(self) -> None:
        """The network drops every connection (no Goodbye)."""
        for session in list(self._sessions):
            session.writer.transport.abort()
        self._sessions.clear()

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._sessions)

    def received(self, name: str) -> list[dict[str, str]]:
        """The actions named ``name`` received so far."""
        return [action for action in self.actions if action.get("Action") == name]

    # --- the PBX's state, from its events ----------------------------------------------

    def _apply(self, event: Mapping[str, str]) -> None:
        name = event.get("Event", "")
        uniqueid = event.get("Uniqueid", "")
        if name == "Newchannel":
            self.channels[uniqueid] = {
                "Channel": event.get("Channel", ""),
                "ChannelState": event.get("ChannelState", "0"),
                "ChannelStateDesc": event.get("ChannelStateDesc", "Down"),
                "CallerIDNum": event.get("CallerIDNum", ""),
                "CallerIDName": event.get("CallerIDName", ""),
                "ConnectedLineNum": event.get("ConnectedLineNum", ""),
                "ConnectedLineName": event.get("ConnectedLineName", ""),
                "Language": "en",
                "AccountCode": "",
                "Context": event.get("Context", ""),
                "Exten": event.get("Exten", ""),
                "Priority": event.get("Priority", "1"),
                "Uniqueid": uniqueid,
                "Linkedid": event.get("Linkedid", uniqueid),
                "Application": "",
                "ApplicationData": "",
                "Duration": "00:00:00",
                "BridgeId": "",
            }
        elif uniqueid in self.channels:
            channel = self.channels[uniqueid]
            if name == "Hangup":
                del self.channels[uniqueid]
            elif name == "Newexten":
                channel["Application"] = event.get("Application", "")
                channel["ApplicationData"] = event.get("AppData", "")
                channel["Exten"] = event.get("Exten", channel["Exten"])
            elif name == "Newstate":
                channel["ChannelState"] = event.get("ChannelState", "")
                channel["ChannelStateDesc"] = event.get("ChannelStateDesc", "")
            elif name == "BridgeEnter":
                channel["BridgeId"] = event.get("BridgeUniqueid", "")
            elif name == "BridgeLeave":
                channel["BridgeId"] = ""
        if name in ("QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded"):
            interface = event.get("Interface", "")
            self.members.setdefault(interface, {}).update(
                {k: v for k, v in event.items() if k not in ("Event", "Privilege")}
            )
        elif name == "QueueMemberRemoved":
            self.members.pop(event.get("Interface", ""), None)

    # --- the protocol --------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(reader, writer)
        self._sessions.append(session)
        writer.write(f"{BANNER}\r\n".encode())
        try:
            while True:
                action = await self._read_packet(reader)
                if action is None:
                    return
                self.actions.append(action)
                if self.mute:
                    continue
                if not await self._answer(session, action):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            if session in self._sessions:
                self._sessions.remove(session)
            writer.close()

    @staticmethod
    async def _read_packet(reader: asyncio.StreamReader) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode().rstrip("\r\n")
            if not text:
                if fields:
                    return fields
                continue
            key, _, value = text.partition(":")
            key, value = key.strip(), value.strip()
            if key == "Variable" and "Variable" in fields:
                fields["Variable"] += "," + value
            else:
                fields[key] = value

    async def _send(self, session: _Session, *packets: Iterable[tuple[str, str]]) -> None:
        for fields in packets:
            session.writer.write(packet(fields))
        await session.writer.drain()

    async def _answer(self, session: _Session, action: dict[str, str]) -> bool:
        """Answer one action; False when the session ends."""
        name = action.get("Action", "").lower()
        aid = ("ActionID", action.get("ActionID", ""))
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                session.logged_in = True
                self.logins += 1
                await self._send(
                    session,
                    [("Response", "Success"), aid, ("Message", "Authentication accepted")],
                    [
                        ("Event", "FullyBooted"),
                        ("Privilege", "system,all"),
                        ("Uptime", "3600"),
                        ("LastReload", "3600"),
                        ("Status", "Fully Booted"),
                    ],
                )
                return True
            await self._send(
                session, [("Response", "Error"), aid, ("Message", "Authentication failed")]
            )
            return False
        if not session.logged_in:
            await self._send(
                session, [("Response", "Error"), aid, ("Message", "Permission denied")]
            )
            return True
        if name == "logoff":
            await self._send(
                session, [("Response", "Goodbye"), aid, ("Message", "Thanks for all the fish.")]
            )
            return False
        if name == "ping":
            stamp = f"{next(self._clock)}.000000"
            await self._send(
                session, [("Response", "Success"), aid, ("Ping", "Pong"), ("Timestamp", stamp)]
            )
        elif name == "coreshowchannels":
            items = [
                [("Event", "CoreShowChannel"), aid, *c.items()] for c in self.channels.values()
            ]
            await self._list(
                session, aid, "Channels will follow", "CoreShowChannelsComplete", items
            )
        elif name == "queuestatus":
            queues = sorted({m.get("Queue", "") for m in self.members.values()})
            items = [
                [("Event", "QueueParams"), ("Queue", q), ("Max", "0"), ("Strategy", "ringall"),
                 ("Calls", "0"), ("Holdtime", "0"), ("TalkTime", "0"), ("Completed", "0"),
                 ("Abandoned", "0"), ("ServiceLevel", "60"), ("ServicelevelPerf", "0.0"),
                 ("Weight", "0"), aid]
                for q in queues
            ]  # fmt: skip
            items += [[("Event", "QueueMember"), *m.items(), aid] for m in self.members.values()]
            await self._list(session, aid, "Queue status will follow", "QueueStatusComplete", items)
        elif name == "status":
            wanted = action.get("Variables", "")
            items = [
                [("Event", "Status"), ("Privilege", "Call"), *c.items(), aid]
                + [("Variable", f"{wanted}={c[wanted]}")] * (wanted in c)
                for c in self.channels.values()
            ]
            await self._list(session, aid, "Channel status will follow", "StatusComplete", items)
        elif name == "queuepause":
            await self._queue_pause(session, action, aid)
        elif name == "originate":
            await self._originate(session, action, aid)
        else:
            await self._send(
                session, [("Response", "Error"), aid, ("Message", "Invalid/unknown command")]
            )
        return True

    async def _list(
        self,
        session: _Session,
        aid: tuple[str, str],
        message: str,
        complete: str,
        items: list[list[tuple[str, str]]],
    ) -> None:
        await self._send(
            session,
            [("Response", "Success"), aid, ("EventList", "start"), ("Message", message)],
            *items,
            [("Event", complete), aid, ("EventList", "Complete"), ("ListItems", str(len(items)))],
        )

    async def _queue_pause(
        self, session: _Session, action: dict[str, str], aid: tuple[str, str]
    ) -> None:
        interface = action.get("Interface", "")
        member = self.members.get(interface)
        if member is None:
            await self._send(
                session, [("Response", "Error"), aid, ("Message", "Interface not found")]
            )
            return
        paused = action.get("Paused", "").lower() in ("true", "1", "yes")
        await self._send(
            session,
            [
                ("Response", "Success"),
                aid,
                ("Message", f"Interface {'paused' if paused else 'unpaused'} successfully"),
            ],
        )
        await self.emit(
            {
                "Event": "QueueMemberPause",
                "Privilege": "agent,all",
                **{**member, "Paused": "1" if paused else "0"},
                "PausedReason": action.get("Reason", "") if paused else "",
            }
        )

    async def _originate(
        self, session: _Session, action: dict[str, str], aid: tuple[str, str]
    ) -> None:
        await self._send(
            session, [("Response", "Success"), aid, ("Message", "Originate successfully queued")]
        )
        uniqueid = f"{next(self._clock)}.900"
        variables = dict(
            part.split("=", 1) for part in action.get("Variable", "").split(",") if "=" in part
        )
        await self.emit(
            {
                "Event": "Newchannel",
                "Privilege": "call,all",
                "Channel": f"{action.get('Channel', '')}-00000099",
                "ChannelState": "0",
                "ChannelStateDesc": "Down",
                "CallerIDNum": "",
                "Exten": action.get("Exten", ""),
                "Context": action.get("Context", ""),
                "Uniqueid": uniqueid,
                "Linkedid": uniqueid,
            }
        )
        self.channels[uniqueid].update(variables)
        if not self.answer_originates:
            return
        failure = self.originate_failure
        await self.emit(
            {
                "Event": "OriginateResponse",
                "Privilege": "call,all",
                aid[0]: aid[1],
                "Response": "Failure" if failure else "Success",
                "Channel": f"{action.get('Channel', '')}-00000099",
                "Context": action.get("Context", ""),
                "Exten": action.get("Exten", ""),
                "Application": "",
                "Data": "",
                "Reason": failure or "4",
                "Uniqueid": uniqueid,
                "CallerIDNum": "<unknown>",
                "CallerIDName": "<unknown>",
            }
        )
