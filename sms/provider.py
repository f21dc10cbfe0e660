"""The interface every SMS provider implements (Twilio, the local outbox, test fakes).

A provider hands one text to a carrier-facing API and reports what the API said, and can look
up the texts it already created; it does not retry, schedule or check opt-outs. Failures are
the :mod:`sms.errors` tree, so the caller decides from the exception's class alone whether a
retry makes sense, and whether it must look the text up before sending it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["OutgoingSms", "SentSms", "SmsProvider"]


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """One text to send.

    ``idempotency_key`` is the same on every attempt to send the same text (the message's
    key): providers that keep their own record (the outbox) use it; Twilio cannot, so the
    sender looks a text up by its fields after an unclear outcome instead.
    ``status_callback`` is the URL the provider posts delivery updates to, if any.
    """

    to: str
    from_: str
    body: str
    idempotency_key: str
    status_callback: str | None = None


@dataclass(frozen=True, slots=True)
class SentSms:
    """What the provider said when it accepted a text (or what its lookup found).

    ``provider_id`` is its id for the message (Twilio's ``SM...`` sid), ``status`` its
    status then (usually ``"queued"``), ``segments`` how many segments it will bill, when
    it says so.
    """

    provider_id: str
    status: str
    segments: int | None = None


class SmsProvider(Protocol):
    """Sends texts; raises :class:`sms.errors.SmsError` subclasses when it cannot."""

    async def send(self, message: OutgoingSms) -> SentSms:
        """Hand ``message`` to the provider."""
        ...

    async def find_sent(self, message: OutgoingSms, *, since: datetime) -> list[SentSms]:
        """The messages the provider created for ``message`` (same recipient, sender and body)
        at or after ``since``, oldest first; used after an unclear outcome
        (:class:`sms.errors.SendOutcomeUnknown`) before sending again."""
        ...

    async def close(self) -> None:
        """Release connections; the provider is not used again."""
        ...
