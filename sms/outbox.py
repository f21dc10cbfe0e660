"""The local outbox: an SMS provider that "sends" by printing to the admin's terminal.

For trying Ringflow without a Twilio account. A sent text is marked in the messages table
like a real one (provider ``outbox``, a provider id ``OB`` + 32 hex digits, status ``sent``)
and shown as one line::

    OUTBOX to +15551234567 (2 segments): the whole body

with the full number and body: this is the admin's own terminal, not a log.

The outbound row must already exist (the caller recorded it with
:func:`sms.messages.record_outbound`, under the key it passes as ``idempotency_key``); the
outbox only marks it, so a send repeated with the same key (a retried job) prints nothing
more and answers with the first provider id. For the same reason its lookup
(:meth:`OutboxProvider.find_sent`) is that row's provider id, if it has one.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime
from typing import TextIO

from sqlalchemy import Connection

from ringflow.clock import Clock
from ringflow.database import Database
from sms.errors import PermanentSmsError
from sms.messages import MessageRow, Provider, mark_sent, message_by_key
from sms.provider import OutgoingSms, SentSms

__all__ = ["OUTBOX", "OutboxProvider"]

OUTBOX: Provider = "outbox"


def outbox_line(row: MessageRow) -> str:
    """The line the outbox prints for a sent message."""
    unit = "segment" if row.segments == 1 else "segments"
    return f"OUTBOX to {row.to_number} ({row.segments} {unit}): {row.body}"


class OutboxProvider:
    """An :class:`sms.provider.SmsProvider` that prints texts to ``out`` (standard output
    when None) and marks them sent in the messages table of ``db``."""

    def __init__(self, db: Database, out: TextIO | None = None, *, clock: Clock) -> None:
        self._db = db
        self._out = out
        self._clock = clock

    async def send(self, message: OutgoingSms) -> SentSms:
        """Mark the message recorded under ``message.idempotency_key`` sent, and print it.

        Raises :class:`PermanentSmsError` when no message was recorded under that key.
        """
        provider_id = "OB" + uuid.uuid4().hex
        now = self._clock()

        def mark(conn: Connection) -> tuple[MessageRow, bool] | None:
            row = message_by_key(conn, message.idempotency_key)
            if row is None:
                return None
            if row.provider_id is not None:
                return row, False  # sent before: a retry after a lost answer
            mark_sent(conn, row.id, OUTBOX, provider_id, "sent", now=now)
            return row, True

        marked = await self._db.write(mark)
        if marked is None:
            raise PermanentSmsError(
                f"outbox: no message recorded with idempotency key {message.idempotency_key!r}",
                code=None,
            )
        row, fresh = marked
        if fresh:
            print(outbox_line(row), file=self._out or sys.stdout, flush=True)
        return SentSms(
            provider_id=row.provider_id or provider_id, status="sent", segments=row.segments
        )

    async def find_sent(self, message: OutgoingSms, *, since: datetime) -> list[SentSms]:
        """The message recorded under ``message.idempotency_key``, if the outbox printed it
        (``since`` does not matter: the outbox keeps its own record)."""
        row = await self._db.read(lambda conn: message_by_key(conn, message.idempotency_key))
        if row is None or row.provider_id is None or row.provider != OUTBOX:
            return []
        return [SentSms(provider_id=row.provider_id, status="sent", segments=row.segments)]

    async def close(self) -> None:
        """Nothing to release: the database belongs to the caller."""
