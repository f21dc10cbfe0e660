"""The interface every SMS provider implements (Twilio, the local outbox, test fakes).

A provider hands one text to a carrier-facing API and reports what the API said; it does
not retry, schedule or check opt-outs. Failures are the :mod:`sms.errors` tree, so the
caller decides from the exception's class alone whether a retry makes sense.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["OutgoingSms", "SentSms", "SmsProvider"]


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """One text to send.

    ``idempotency_key`` must be the same on every attempt to send the same text (e.g. the
    job's dedupe key), so a retry after a lost response cannot send it twice.
    ``status_callback`` is the URL the provider posts delivery updates to, if any.
    """

    to: str
    from_: str
    body: str
    idempotency_key: str
    status_callback: str | None = None


@dataclass(frozen=True, slots=True)
class SentSms:
    """What the provider said when it accepted a text.

    ``provider_id`` is its id for the message (Twilio's ``SM...`` sid), ``status`` its
    first status (usually ``"queued"``), ``segments`` how many segments it will bill, when
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

    async def close(self) -> None:
        """Release connections; the provider is not used again."""
        ...
