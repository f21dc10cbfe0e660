"""Callbacks on an Asterisk line: placed with ``Originate``, ended by the PBX's events.

A placement (:mod:`workflows.callbacks.job`) rings the agent's SIP endpoint (``PJSIP/1001``)
with an ``Originate`` into the callback context (``RINGFLOW_AMI_CALLBACK_CONTEXT``, default
``ringflow-callbacks``) at the customer's number, showing the line's number. The business's
dialplan there dials the customer (see docs/asterisk.md)::

    [ringflow-callbacks]
    exten => _+X.,1,Dial(PJSIP/${EXTEN}@trunk,30)

There is no key for the agent to press on a PBX: answering accepts. The events decide the
rest, in the order the adapter handles them (:class:`PbxCallbackEvents`):

* ``OriginateResponse`` ``Success``: the agent answered: their channel is kept as the
  placement's agent call and the customer is being rung (the opt-out is checked again now; a
  number that opted out meanwhile ends the placement and the agent's channel is hung up);
  ``Failure``: the agent did not answer (or was busy, or unreachable);
* ``DialEnd`` on the agent's channel: the dial to the customer ended (``ANSWER``,
  ``NOANSWER``, ``BUSY``...): one attempt, recorded with its outcome;
* ``Hangup`` of the agent's channel before any dial: the agent hung up first.

An ``Originate`` whose outcome was lost with the connection is never sent again blindly
(:meth:`pbx.service.PbxAdapter.originate`): the job's lookup (:meth:`PbxCallPlacer.find`)
asks the PBX for a live channel carrying the placement's key, and only when there is none is
the placement made again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final

from pbx.errors import AmiClosed, AmiError, OriginateUnclear
from ringflow.database import Database
from workflows.callbacks.errors import PlacementError, PlacementRefused, PlacementUnclear
from workflows.callbacks.requests import Placement, placement_by_agent_call
from workflows.callbacks.service import CallbackService, Goodbye

if TYPE_CHECKING:
    from pbx.service import PbxAdapter

log = logging.getLogger(__name__)

DEFAULT_CONTEXT: Final = "ringflow-callbacks"
AGENT_RING_SECONDS: Final = 30
_KEY = re.compile(r"^callback-(\d+)-(\d+)$")
_DIAL_STATUS: Final = {
    "ANSWER": "answered",
    "NOANSWER": "no-answer",
    "CANCEL": "no-answer",
    "BUSY": "busy",
}
"""Asterisk's ``DialStatus`` as a dial's status; anything else (CONGESTION, CHANUNAVAIL...)
is ``failed``."""
_ORIGINATE_FAILURE: Final = {"1": "no-answer", "3": "no-answer", "5": "busy", "8": "failed"}
"""``OriginateResponse`` ``Reason`` codes (Asterisk's AST_CONTROL values: 1 hung up, 3 no
answer, 5 busy, 8 congestion) as the agent leg's final status."""


def callback_key(callback_id: int, leg: int) -> str:
    """The ``Originate``'s key (its ActionID and channel variable) for a placement."""
    return f"callback-{callback_id}-{leg}"


def originate_channel(placement: Placement) -> str:
    """The dial string that rings the placement's agent on the PBX (their SIP endpoint as
    Asterisk names it, ``PJSIP/1001``); :class:`PlacementRefused` for an agent who has none."""
    agent = placement.agent
    if agent.kind == "sip" and "/" in agent.address and not agent.address.startswith("sip:"):
        return agent.address
    raise PlacementRefused(
        f"agent {agent.name} has no PBX endpoint (a sip endpoint such as PJSIP/1001)"
    )


class PbxCallPlacer:
    """Places callbacks' agent legs through the PBX adapter (a
    :class:`workflows.callbacks.job.CallPlacer`); the adapter is attached once it exists."""

    def __init__(self, context: str = DEFAULT_CONTEXT) -> None:
        self._context = context
        self._adapter: PbxAdapter | None = None
        self._resend: set[str] = set()

    def attach(self, adapter: PbxAdapter) -> None:
        """Use ``adapter`` (created after the job worker that holds this placer)."""
        self._adapter = adapter

    def _connected(self) -> PbxAdapter:
        adapter = self._adapter
        if adapter is None or not adapter.connected.is_set():
            # Nothing was sent: the request goes back to pending and is tried again (in a
            # process that follows the PBX: one instance does, see docs/asterisk.md).
            raise PlacementRefused("this process is not connected to the PBX")
        return adapter

    async def place(self, placement: Placement) -> str:
        """Ring the agent; the agent's channel once they answered (the events have recorded
        it already) or the placement's key when they did not (the events have ended it)."""
        adapter = self._connected()
        key = callback_key(placement.callback_id, placement.leg)
        try:
            result = await adapter.originate(
                key,
                originate_channel(placement),
                context=self._context,
                exten=placement.customer,
                caller_id=placement.our_number,
                ring_seconds=AGENT_RING_SECONDS,
                resend_if_absent=key in self._resend,
            )
        except OriginateUnclear as error:
            raise PlacementUnclear(str(error)) from error
        except AmiClosed as error:
            raise PlacementRefused(f"not sent: {error}") from error
        finally:
            self._resend.discard(key)
        return result.channel or key

    async def find(self, placement: Placement, *, since: datetime) -> list[str]:
        """The live channel carrying the placement's key, if any; none found, the next
        :meth:`place` may send the ``Originate`` again."""
        del since  # the key names the placement: no time window needed
        adapter = self._connected()
        key = callback_key(placement.callback_id, placement.leg)
        try:
            live = await adapter.live_originate(key)
        except AmiError as error:
            raise PlacementError(f"cannot look {key} up: {error}") from error
        if live is None:
            self._resend.add(key)
            return []
        return [live]

    async def status(self, call_sid: str) -> str:
        """``in-progress`` while the agent's channel is up on the PBX, else ``completed``."""
        adapter = self._connected()
        try:
            up = await adapter.channel_up(call_sid)
        except AmiError as error:
            raise PlacementError(f"cannot ask about {call_sid}: {error}") from error
        return "in-progress" if up else "completed"


class PbxCallbackEvents:
    """Ends callbacks' placements from the PBX's events (see the module docstring)."""

    def __init__(
        self,
        service: CallbackService,
        db: Database,
        hang_up: Callable[[str], object],
        context: str = DEFAULT_CONTEXT,
    ) -> None:
        self._service = service
        self._db = db
        self._hang_up = hang_up
        self._context = context

    async def handle(self, event: dict[str, str]) -> None:
        """One AMI event (those of other calls are left alone)."""
        name = event.get("Event", "")
        if name == "OriginateResponse":
            await self._originated(event)
        elif name in ("DialEnd", "Hangup") and event.get("Context") == self._context:
            found = await self._db.read(
                lambda conn: placement_by_agent_call(conn, event.get("Channel", ""))
            )
            if found is None:
                return
            callback_id, leg = found
            if name == "DialEnd":
                status = _DIAL_STATUS.get(event.get("DialStatus", ""), "failed")
                await self._service.dial_finished(
                    callback_id, leg, status, event.get("DestUniqueid") or None, None
                )
            else:
                await self._service.agent_leg_ended(callback_id, leg, "completed")

    async def _originated(self, event: dict[str, str]) -> None:
        match = _KEY.match(event.get("ActionID", "").removeprefix("rf-originate-"))
        if match is None:
            return
        callback_id, leg = int(match.group(1)), int(match.group(2))
        channel = event.get("Channel", "")
        if event.get("Response", "").lower() != "success":
            status = _ORIGINATE_FAILURE.get(event.get("Reason", ""), "failed")
            await self._service.agent_leg_ended(callback_id, leg, status)
            return
        answered = await self._service.agent_answered(callback_id, leg, channel)
        if isinstance(answered, Goodbye):
            self._hang_up(channel)  # the request was cancelled or ended meanwhile
            return
        # Answering is accepting on a PBX: the dialplan is ringing the customer already.
        decided = await self._service.agent_pressed(callback_id, leg, "1")
        if isinstance(decided, Goodbye):
            log.info("callback %d: %s", callback_id, decided.text)
            self._hang_up(channel)
