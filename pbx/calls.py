"""Calls on the PBX, followed from AMI events (pure: no I/O, no clock of its own).

A call is the channels Asterisk links under one ``Linkedid``; its first channel (``Uniqueid``
equal to the ``Linkedid``) is the caller's. A call from a phone number (the caller's
``CallerIDNum`` reads as one), starting in one of the inbound dialplan contexts when they are
configured, is a Ringflow call to the first channel's ``Exten``; calls between extensions are
not followed. What each event tells:

``Newchannel``            a caller's first channel: the call starts (``ringing``)
``Newexten``              the caller's channel runs ``Dial``, ``Queue`` or ``VoiceMail``: the
                          PBX tried to reach someone
``DialBegin``/``DialEnd`` a dial from the call; ``DialStatus: ANSWER`` is a person answering
``QueueCallerJoin``       the caller waits in a queue (tried)
``QueueCallerAbandon``    the caller hung up while waiting in the queue
``AgentConnect``          a queue member answered
``AgentComplete``         that conversation ended (the call may go on: a transfer)
``BlindTransfer``/``AttendedTransfer`` the call moved on; it stays one call
``Hangup``                of the caller's channel: the call ends

Outcomes (as the voice channel's, ``ivr/outcome.py``): ``ended`` a person answered (whoever
answered first is the call's agent; a transfer keeps the call answered); ``after_hours``
nobody answered and the line's workflow hours were closed when it started; ``missed``
nobody answered although the PBX tried (a dial, a queue, voicemail; a caller who gave up in
a queue); ``abandoned`` the caller hung up before the PBX tried anyone (in its menus).

After a reconnect, :meth:`CallTracker.resync` compares what it follows with Asterisk's
``CoreShowChannels``: calls whose caller's channel is gone ended while the connection was
down (their outcome from what was known), calls it did not know started meanwhile. Every
change is keyed by the ``Linkedid``, so the store can apply it idempotently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from workflows.phones import InvalidPhoneNumber, normalize_number

_TRYING_APPS = frozenset({"dial", "queue", "voicemail", "appdial", "appqueue"})
_DURATION = re.compile(r"^(\d+):(\d{2}):(\d{2})$")

ChangeKind = Literal["started", "answered", "ended"]


@dataclass
class PbxCall:
    """One call followed on the PBX."""

    linkedid: str
    caller: str
    called: str
    started_at: datetime
    channel: str = ""
    tried: bool = False
    queue: str | None = None
    answered: bool = False
    agent: str | None = None
    agent_interface: str | None = None
    """The channel or queue interface that answered (``PJSIP/1001-0000001f``)."""
    left_queue: bool = False
    transfers: int = 0
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def sid(self) -> str:
        """The call's id in the call log."""
        return call_sid(self.linkedid)


@dataclass(frozen=True, slots=True)
class CallChange:
    """Something the store records: a call started, was answered, or ended at ``at``."""

    kind: ChangeKind
    call: PbxCall
    at: datetime


def call_sid(linkedid: str) -> str:
    """The call log's key for the PBX call ``linkedid``."""
    return f"ami-{linkedid}"


def outcome(call: PbxCall, *, after_hours: bool) -> str:
    """The call's one outcome (see the module's docstring)."""
    if call.answered:
        return "ended"
    if after_hours:
        return "after_hours"
    if call.tried or call.left_queue:
        return "missed"
    return "abandoned"


Numbers = Callable[[str], str | None]


def phone_numbers(default_region: str | None) -> Numbers:
    """A number in E.164, or None for what is not one (an extension, ``s``, ``anonymous``)."""

    def number(raw: str) -> str | None:
        text = raw.strip()
        if not text or not any(ch.isdigit() for ch in text) or len(text.strip("+")) < 7:
            return None
        if not text.startswith("+") and default_region is None:
            text = "+" + text
        try:
            return normalize_number(text, default_region)
        except InvalidPhoneNumber:
            return None

    return number


class CallTracker:
    """The PBX's calls in progress, by ``Linkedid``; :meth:`apply` turns an event into the
    changes to record."""

    def __init__(self, numbers: Numbers, contexts: frozenset[str] = frozenset()) -> None:
        self._numbers = numbers
        self._contexts = contexts
        """Dialplan contexts a followed call starts in (empty: any)."""
        self.calls: dict[str, PbxCall] = {}

    def adopt(self, call: PbxCall) -> None:
        """Follow a call the store knows as still open (after a restart)."""
        self.calls.setdefault(call.linkedid, call)

    def apply(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        """The changes ``event`` makes (usually none)."""
        handler = _HANDLERS.get(event.get("Event", ""))
        if handler is None:
            return []
        return handler(self, event, now)

    def _call(self, event: Mapping[str, str]) -> PbxCall | None:
        return self.calls.get(event.get("Linkedid", "")) or self.calls.get(
            event.get("Uniqueid", "")
        )

    def _new_channel(
        self, event: Mapping[str, str], now: datetime, resync: bool = False
    ) -> list[CallChange]:
        uniqueid, linkedid = event.get("Uniqueid", ""), event.get("Linkedid", "")
        if not uniqueid or uniqueid != linkedid or linkedid in self.calls:
            return []
        if self._contexts and not resync and event.get("Context", "") not in self._contexts:
            return []  # e.g. an extension's outbound call that shows the business's caller id
        caller = self._numbers(event.get("CallerIDNum", ""))
        if caller is None:
            return []  # an extension calling: not a call from a customer
        exten = event.get("Exten", "")
        call = PbxCall(
            linkedid,
            caller=caller,
            called=self._numbers(exten) or exten,
            started_at=now,
            channel=event.get("Channel", ""),
        )
        self.calls[linkedid] = call
        return [CallChange("started", call, now)]

    def _new_exten(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        call = self._call(event)
        if call is None or event.get("Uniqueid") != call.linkedid:
            return []
        application = event.get("Application", "").lower()
        if application in _TRYING_APPS:
            call.tried = True
            if application == "queue" and call.queue is None:
                call.queue = event.get("AppData", "").split(",", 1)[0] or None
        return []

    def _dial_begin(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        call = self._call(event)
        if call is not None:
            call.tried = True
        return []

    def _dial_end(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        call = self._call(event)
        if call is None or event.get("DialStatus", "").upper() != "ANSWER":
            return []
        agent = event.get("DestCallerIDNum") or event.get("DestChannel") or None
        return self._answered(call, agent, now, event.get("DestChannel"))

    def _queue_join(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        call = self._call(event)
        if call is not None:
            call.tried = True
            call.queue = event.get("Queue") or call.queue
        return []

    def _queue_abandon(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        call = self._call(event)
        if call is not None:
            call.left_queue = True
            call.facts["queue_position"] = _int(event.get("Position"))
            call.facts["queue_wait"] = _int(event.get("HoldTime"))
        return []

    def _agent_connect(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        call = self._call(event)
        if call is None:
            return []
        call.facts["queue_wait"] = _int(event.get("HoldTime"))
        agent = event.get("MemberName") or event.get("Interface") or None
        if call.answered and call.transfers == 0:
            # The queue's dial said ANSWER first; the member's name says who.
            call.agent = agent or call.agent
            call.agent_interface = event.get("Interface") or call.agent_interface
            return []
        return self._answered(call, agent, now, event.get("Interface"))

    def _agent_complete(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        call = self._call(event)
        if call is not None:
            call.facts["talk_time"] = _int(event.get("TalkTime"))
            call.facts["ended_by"] = event.get("Reason") or None
        return []

    def _transfer(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        linkedids = {value for key, value in event.items() if key.endswith("Linkedid") and value}
        for linkedid in linkedids:
            call = self.calls.get(linkedid)
            if call is not None:
                call.transfers += 1
                target = event.get("Extension") or event.get("SecondTransfererConnectedLineNum")
                if target:
                    call.facts["transferred_to"] = target
        return []

    def _hangup(self, event: Mapping[str, str], now: datetime) -> list[CallChange]:
        uniqueid = event.get("Uniqueid", "")
        call = self.calls.get(uniqueid)
        if call is None:
            return []
        del self.calls[uniqueid]
        call.facts["hangup_cause"] = event.get("Cause-txt") or None
        return [CallChange("ended", call, now)]

    def _answered(
        self, call: PbxCall, agent: str | None, now: datetime, interface: str | None = None
    ) -> list[CallChange]:
        if call.answered:
            return []
        call.answered = True
        call.agent = agent
        call.agent_interface = interface
        return [CallChange("answered", call, now)]

    def resync(self, channels: Iterable[Mapping[str, str]], now: datetime) -> list[CallChange]:
        """Catch up with Asterisk's channels (``CoreShowChannel`` events) after a reconnect."""
        by_call: dict[str, list[Mapping[str, str]]] = {}
        for channel in channels:
            by_call.setdefault(channel.get("Linkedid", ""), []).append(channel)
        changes: list[CallChange] = []
        for linkedid in list(self.calls):
            legs = by_call.get(linkedid, [])
            if not any(leg.get("Uniqueid") == linkedid for leg in legs):
                call = self.calls.pop(linkedid)
                call.facts["ended_while_disconnected"] = True
                changes.append(CallChange("ended", call, now))
        for linkedid, legs in by_call.items():
            first = next((leg for leg in legs if leg.get("Uniqueid") == linkedid), None)
            if first is None:
                continue
            if linkedid not in self.calls:
                started = now - _duration(first.get("Duration", ""))
                # Its context now may be another than the one it started in: not filtered.
                changes += self._new_channel(first, started, resync=True)
            followed = self.calls.get(linkedid)
            if followed is None:
                continue
            call = followed
            if first.get("Application", "").lower() in _TRYING_APPS:
                call.tried = True
            bridge = first.get("BridgeId", "")
            partner = next(
                (
                    leg
                    for leg in legs
                    if leg is not first and bridge and leg.get("BridgeId") == bridge
                ),
                None,
            )
            if partner is not None:
                call.tried = True
                changes += self._answered(
                    call, partner.get("CallerIDNum") or None, now, partner.get("Channel")
                )
        return changes


_HANDLERS: Mapping[str, Callable[[CallTracker, Mapping[str, str], datetime], list[CallChange]]] = {
    "Newchannel": CallTracker._new_channel,
    "Newexten": CallTracker._new_exten,
    "DialBegin": CallTracker._dial_begin,
    "DialEnd": CallTracker._dial_end,
    "QueueCallerJoin": CallTracker._queue_join,
    "QueueCallerAbandon": CallTracker._queue_abandon,
    "AgentConnect": CallTracker._agent_connect,
    "AgentComplete": CallTracker._agent_complete,
    "BlindTransfer": CallTracker._transfer,
    "AttendedTransfer": CallTracker._transfer,
    "Hangup": CallTracker._hangup,
}
"""The events that move a call, and what each does: the one table of them."""

CALL_EVENTS = tuple(_HANDLERS)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        return timedelta(0)
    hours, minutes, seconds = (int(part) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)
