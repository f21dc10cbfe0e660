"""The send job: queue a text in the caller's transaction, send it from a job worker.

:func:`queue_text` is step 1 of the design in :mod:`sms` (record the message and enqueue its
job, both under the caller's ``key``); :class:`SendSmsHandler` is step 2, the
``JobHandler`` of kind :data:`SEND_SMS`.

Delivery is at least once: a worker killed between the provider's answer and ``mark_sent``
leaves the job ``running`` and the message without a provider id, and the job runs again once
its lease expires. The repeat sends with the same idempotency key (the message's, which is the
job's dedupe key), so a provider that honours it answers with the first message instead of
sending a second one; the outbox provider checks the messages table itself. A repeat that
finds the provider id already stored does nothing.

A text the provider accepted is marked ``sent`` (Twilio's first status is ``queued``, its
own queue; the messages table's ``queued`` means "not handed over yet"); delivery callbacks
move it on from there.

Failures: :class:`~sms.errors.TransientSmsError` (and any other :class:`~sms.errors.SmsError`
that is not permanent) retries the job with the worker's backoff; a
:class:`~sms.errors.PermanentSmsError` (:class:`~sms.errors.RecipientOptedOut` included, code
21610) marks the message ``failed`` with the provider's code and kills the job.

Opt-outs (:mod:`sms.optouts`): no automated text ever goes to an opted-out number. Before
sending, the handler checks :func:`~sms.optouts.is_opted_out`; for an opted-out recipient it
marks the message ``failed`` (error "recipient opted out", code 21610) instead of sending, and
the job ends ``done`` (nothing to retry). The one exception is a *compliance* text, the
confirmation of a STOP itself (``queue_text(..., compliance=True)``, ``"compliance": true`` in
the job's payload), which goes to the number that has just opted out, once. A send refused with
:class:`~sms.errors.RecipientOptedOut` (21610: the carrier knows the number opted out) also
opts the number out (source ``carrier_21610``), in the same write that marks the message
``failed``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, bindparam, select

from ringflow.clock import Clock
from ringflow.database import Database
from sms.db import messages, opt_outs
from sms.errors import OPTED_OUT_CODE, PermanentSmsError, RecipientOptedOut, SmsError
from sms.messages import (
    FINAL_STATUSES,
    MessageRow,
    Provider,
    mark_failed,
    mark_sent,
    message_from,
    outbound_status,
    record_outbound,
)
from sms.optouts import opt_out
from sms.provider import OutgoingSms, SentSms, SmsProvider
from workflows.jobs import ClaimedJob, FinalWrite, PermanentJobError, TransientJobError, enqueue

__all__ = ["OPTED_OUT_ERROR", "SEND_SMS", "SendSmsHandler", "queue_text"]

log = logging.getLogger(__name__)

SEND_SMS: Final = "sms.send"
"""The job kind of a text to send; its payload is ``{"message_id": <messages.id>}``, plus
``"compliance": true`` for a text that goes out even to an opted-out number."""
OPTED_OUT_ERROR: Final = "recipient opted out"
"""The error of a message not sent because its recipient opted out (code 21610)."""


def queue_text(
    conn: Connection,
    *,
    to: str,
    from_: str,
    body: str,
    key: str,
    default_region: str | None = None,
    due_at: datetime | None = None,
    compliance: bool = False,
    now: datetime,
) -> int | None:
    """Record a text to send and enqueue its send job, in the caller's transaction.

    ``key`` is both the message's idempotency key and the job's dedupe key: the same key again
    (a re-run event) records and enqueues nothing and returns None; otherwise the new
    message's id. ``to`` is normalised as :func:`sms.messages.record_outbound` does (raising
    :class:`workflows.phones.InvalidPhoneNumber`); ``now`` is when it is recorded (and due,
    unless ``due_at``, aware, delays the send).

    ``compliance`` marks a text that must reach even an opted-out number: only the
    confirmation of a STOP. Every other text to an opted-out number is never sent.
    """
    message = record_outbound(
        conn,
        to=to,
        from_=from_,
        body=body,
        idempotency_key=key,
        default_region=default_region,
        now=now,
    )
    payload: dict[str, object] = {"message_id": message.id}
    if compliance:
        payload["compliance"] = True
    job_id = enqueue(conn, SEND_SMS, payload, dedupe_key=key, due_at=due_at, now=now)
    return None if job_id is None else message.id


_OPTED_OUT = select(opt_outs.c.number).where(opt_outs.c.number == messages.c.to_number).exists()
_TO_SEND = select(messages, _OPTED_OUT.label("opted_out")).where(
    messages.c.id == bindparam("message_id")
)


def _message_to_send(conn: Connection, message_id: int) -> tuple[MessageRow, bool] | None:
    """The message, and whether its recipient opted out: one query."""
    row = conn.execute(_TO_SEND, {"message_id": message_id}).first()
    if row is None:
        return None
    values = row._asdict()
    opted_out = bool(values.pop("opted_out"))
    return message_from(values), opted_out


def _message_id(job: ClaimedJob) -> int:
    value = job.payload.get("message_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PermanentJobError(f"payload has no integer message_id: {value!r}")
    return value


class SendSmsHandler:
    """Sends the message a :data:`SEND_SMS` job names through ``provider``.

    ``provider_name`` is what the messages table records as its provider; ``status_callback_url``
    the URL the provider posts delivery updates to (None: no callbacks).
    """

    def __init__(
        self,
        db: Database,
        provider: SmsProvider,
        provider_name: Provider,
        status_callback_url: str | None,
        *,
        clock: Clock,
    ) -> None:
        self._db = db
        self._clock = clock
        self._provider = provider
        self._provider_name: Provider = provider_name
        self._status_callback_url = status_callback_url

    async def __call__(self, job: ClaimedJob) -> FinalWrite | None:
        message_id = _message_id(job)
        found = await self._db.read(lambda conn: _message_to_send(conn, message_id))
        if found is None:
            raise PermanentJobError(f"message {message_id} does not exist")
        message, opted_out = found
        if message.direction != "outbound":
            raise PermanentJobError(f"message {message_id} is not outbound")
        if message.provider_id is not None:
            log.info("message %d: already sent as %s", message_id, message.provider_id)
            return None
        if message.status in FINAL_STATUSES:
            log.info("message %d: already %s, not sent", message_id, message.status)
            return None
        if opted_out and job.payload.get("compliance") is not True:
            log.info("message %d: recipient opted out, not sent", message_id)
            now = self._clock()
            return lambda conn: mark_failed(
                conn, message_id, OPTED_OUT_CODE, OPTED_OUT_ERROR, now=now
            )
        sent = await self._send(message)
        provider_id = sent.provider_id
        # Handed over is "sent" here, whatever the provider calls its queue (Twilio: "queued");
        # only a final first status (a provider that already knows the outcome) is kept.
        status = sent.status if outbound_status(sent.status) in FINAL_STATUSES else "sent"
        # Committed with the job's completion.
        now = self._clock()
        return lambda conn: mark_sent(
            conn, message_id, self._provider_name, provider_id, status, now=now
        )

    async def _send(self, message: MessageRow) -> SentSms:
        outgoing = OutgoingSms(
            to=message.to_number,
            from_=message.from_number,
            body=message.body,
            idempotency_key=message.idempotency_key,
            status_callback=self._status_callback_url,
        )
        try:
            return await self._provider.send(outgoing)
        except PermanentSmsError as error:
            code, text = error.code, error.message
            opted_out = isinstance(error, RecipientOptedOut) or code == OPTED_OUT_CODE
            now = self._clock()

            def fail(conn: Connection) -> None:
                mark_failed(conn, message.id, code, text, now=now)
                if opted_out:
                    opt_out(conn, message.to_number, "carrier_21610", now=now)

            await self._db.write(fail)
            raise PermanentJobError(f"message {message.id} refused: {error}") from error
        except SmsError as error:  # TransientSmsError, or anything not said to be permanent
            raise TransientJobError(f"message {message.id} not sent: {error}") from error
