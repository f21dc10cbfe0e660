"""The received texts of a conversation that no workflow has handled yet, oldest first.

A text is handled once its firing row exists (``trigger_firings``, key ``inbound:<sid>``):
written in the same transaction as the turn it caused, or as ``ignored`` when no workflow took
it. Compliance keywords (STOP, START, HELP...) are answered when they arrive and never reach a
workflow, so they are left out here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, literal, select

from sms.db import messages
from sms.keywords import classify
from workflows.db import trigger_firings

LOOK_BACK = timedelta(hours=1)
"""How far before a text its unhandled predecessors are looked for (a lost job's text from
long ago should not suddenly answer a menu)."""


@dataclass(frozen=True, slots=True)
class InboundText:
    """A received text: its id, Twilio's MessageSid and its body."""

    id: int
    sid: str
    body: str


def unhandled_texts(
    conn: Connection, contact: str, business: str, upto_sid: str
) -> list[InboundText]:
    """The texts ``contact`` sent to ``business`` up to MessageSid ``upto_sid`` (included) that
    no workflow has handled yet, in the order they arrived."""
    mine = conn.execute(
        select(messages.c.id, messages.c.created_at).where(
            messages.c.provider_id == upto_sid, messages.c.direction == "inbound"
        )
    ).first()
    if mine is None:
        return []
    handled = select(trigger_firings.c.event_key).where(
        trigger_firings.c.event_key == literal("inbound:") + messages.c.provider_id
    )
    rows = conn.execute(
        select(messages.c.id, messages.c.provider_id, messages.c.body)
        .where(
            messages.c.direction == "inbound",
            messages.c.contact_number == contact,
            messages.c.to_number == business,
            messages.c.id <= mine.id,
            messages.c.created_at >= mine.created_at - LOOK_BACK,
            ~handled.exists(),
        )
        .order_by(messages.c.id)
    ).all()
    return [
        InboundText(row.id, row.provider_id, row.body)
        for row in rows
        if row.provider_id is not None and classify(row.body) is None
    ]
