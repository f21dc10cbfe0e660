"""Agent presence mirrored with Asterisk queue membership, both ways.

An agent is a queue member through its SIP endpoint: the endpoint ``sip:1001@pbx.example.com``
(or written as the interface itself, ``PJSIP/1001``) is the member whose ``Interface`` (or
``StateInterface``) is ``PJSIP/1001``, ``SIP/1001`` or ``Local/1001@context``: both sides
are compared by their user part, ``1001``.

* **In**: ``QueueMemberStatus``, ``QueueMemberPause``, ``QueueMemberAdded`` and the
  ``QueueMember`` items of ``QueueStatus`` carry ``Paused``: paused is ``away``, not paused
  is ``available``. ``QueueMemberRemoved`` forgets the member (the agent's status stays).
* **Out**: an agent whose status changed in Ringflow (API, CLI, inbox) is paused
  (``away``/``offline``) or unpaused (``available``) with the ``QueuePause`` action, in every
  queue it belongs to.

Which side changed is told by a *baseline* per agent, the paused state both sides last agreed
on: Asterisk differing from it changed on the PBX (written in), Ringflow differing from it
changed in Ringflow (sent out). So a change never bounces back, and after a reconnect the
``QueueStatus`` resync only imports what changed on the PBX meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from workflows.people.agents import Agent, AgentStatus

_USER = re.compile(r"^(?:sips?:)?(?:[A-Za-z0-9_-]+/)?([^@/;:]+)")
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}$")
MEMBER_EVENTS = (
    "QueueMemberStatus",
    "QueueMemberPause",
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMember",
)


def member_key(text: str) -> str | None:
    """The user part that joins an agent's SIP endpoint and a queue member's interface:
    ``PJSIP/1001``, ``SIP/1001``, ``Local/1001@agents/n``, ``sip:1001@host`` -> ``1001``; a
    channel's name too (``PJSIP/1001-0000001f``)."""
    match = _USER.match(text.strip())
    return _CHANNEL_SUFFIX.sub("", match.group(1)).lower() if match else None


def agent_keys(agent: Agent) -> set[str]:
    """The member keys of an agent's SIP endpoints."""
    return {
        key
        for endpoint in agent.fields.endpoints
        if endpoint.kind == "sip" and (key := member_key(endpoint.address))
    }


@dataclass(frozen=True, slots=True)
class StatusIn:
    """Set agent ``agent_id``'s status (a change made on the PBX)."""

    agent_id: int
    status: AgentStatus


@dataclass(frozen=True, slots=True)
class PauseOut:
    """Pause (or unpause) queue member ``interface`` (a change made in Ringflow)."""

    agent_id: int
    interface: str
    paused: bool


def agent_named(interface: str | None, agents: Iterable[Agent]) -> str | None:
    """The name of the agent whose SIP endpoint is ``interface`` (a channel or a member)."""
    key = member_key(interface) if interface else None
    if key is None:
        return None
    return next((agent.name for agent in agents if key in agent_keys(agent)), None)


class PresenceMirror:
    """The baseline of each agent and the interfaces seen in queues (see the module)."""

    def __init__(self) -> None:
        self.baseline: dict[int, bool] = {}
        self.interfaces: dict[str, str] = {}
        """Member key -> the interface Asterisk names it by."""

    def event_in(self, event: Mapping[str, str], agents: Iterable[Agent]) -> StatusIn | None:
        """What a member event changes on our side, if anything."""
        name = event.get("Event", "")
        interface = event.get("Interface") or event.get("Location") or ""
        keys = {member_key(interface), member_key(event.get("StateInterface", ""))} - {None}
        if not keys:
            return None
        agent = next((a for a in agents if agent_keys(a) & keys), None)
        if name == "QueueMemberRemoved":
            for key in keys:
                self.interfaces.pop(str(key), None)
            return None
        for key in keys:
            self.interfaces[str(key)] = interface
        if agent is None or "Paused" not in event:
            return None
        paused = event["Paused"].strip() in ("1", "true", "yes")
        if self.baseline.get(agent.id) == paused:
            return None
        self.baseline[agent.id] = paused
        status: AgentStatus = "away" if paused else "available"
        if agent.fields.status == status or (paused and agent.fields.status == "offline"):
            return None
        return StatusIn(agent.id, status)

    def changes_out(self, agents: Iterable[Agent]) -> list[PauseOut]:
        """The pauses to send for agents whose status changed in Ringflow."""
        out: list[PauseOut] = []
        for agent in agents:
            if agent.id not in self.baseline:
                continue  # never seen in a queue: nothing to mirror
            wanted = agent.fields.status != "available"
            if wanted == self.baseline[agent.id]:
                continue
            interface = next(
                (
                    self.interfaces[key]
                    for key in sorted(agent_keys(agent))
                    if key in self.interfaces
                ),
                None,
            )
            if interface is not None:
                out.append(PauseOut(agent.id, interface, wanted))
        return out

    def sent(self, change: PauseOut) -> None:
        """Asterisk accepted the pause: it is the new baseline."""
        self.baseline[change.agent_id] = change.paused
