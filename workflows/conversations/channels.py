"""The registry through which channels take part in conversations, without the core
importing them: an :class:`Outbound` per channel name sends what an agent writes, and
:class:`TimelineSource` s add the channel's own records (texts, calls) to timelines.

The composition root fills one :class:`ConversationChannels` (the SMS channel registers
``"sms"``; web chat will register ``"chat"``) and hands it to the conversation API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Connection

from workflows.conversations.errors import ChannelUnavailable
from workflows.conversations.model import Conversation


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of a reply handed to a channel: its message, and why it will not be
    delivered if the channel already knows (e.g. the contact opted out)."""

    message_id: int | None
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """The quiet hours an automated message keeps: not before ``until`` (None: now), and
    checked again against the schedule ``hours`` when it leaves."""

    until: datetime | None
    hours: str | None


class Outbound(Protocol):
    """Sends text into a conversation on one channel, as durable work queued in the caller's
    transaction (so the reply and its sending commit together)."""

    def send(
        self,
        conn: Connection,
        conversation: Conversation,
        body: str,
        key: str,
        now: datetime,
        *,
        hold: Hold | None = None,
    ) -> Sent:
        """Queue ``body`` to the conversation's contact; ``key`` makes it happen once;
        ``hold``: an automated message's quiet hours."""
        ...


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """A record a channel adds to a timeline: a ``message`` (``ref`` its id) or a ``call``
    (``ref`` its id at the provider), with what a person reading the timeline needs."""

    at: datetime
    kind: Literal["message", "call"]
    ref: str
    data: Mapping[str, Any]


class TimelineSource(Protocol):
    """Reads a channel's records of a conversation's thread between two times."""

    def entries(
        self,
        conn: Connection,
        conversation: Conversation,
        since: datetime | None,
        until: datetime | None,
    ) -> list[SourceEntry]:
        """The records from ``since`` (None: the beginning) to before ``until`` (None: now)."""
        ...


@dataclass
class ConversationChannels:
    """Outbounds by channel name, and the timeline sources (see the module docstring)."""

    outbound: dict[str, Outbound] = field(default_factory=dict)
    sources: list[TimelineSource] = field(default_factory=list)

    def register_outbound(self, channel: str, outbound: Outbound) -> None:
        """``outbound`` sends on ``channel`` (one per channel)."""
        if channel in self.outbound:
            raise ValueError(f"an outbound for {channel!r} is registered already")
        self.outbound[channel] = outbound

    def add_source(self, source: TimelineSource) -> None:
        """Add ``source``'s records to every timeline."""
        self.sources.append(source)

    def outbound_for(self, channel: str) -> Outbound:
        """The outbound of ``channel``; :class:`ChannelUnavailable` when none is registered."""
        found = self.outbound.get(channel)
        if found is None:
            raise ChannelUnavailable(f"nothing sends on the {channel!r} channel here")
        return found
