"""What can go wrong sending a text, sorted by what the sender should do about it.

::

    SmsError                      anything a provider's send() raises
    ├── TransientSmsError         retry later: 408, 429, 5xx, timeouts, connection errors
    │                             (.retry_after: seconds from a Retry-After header, or None)
    └── PermanentSmsError         never retry: any other 4xx (.code: the provider's error code)
        └── RecipientOptedOut     Twilio 21610: the recipient texted STOP

A retry of a transient failure is safe only because every send carries an idempotency key:
a provider that already accepted the message answers the retry with the same message.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "OPTED_OUT_CODE",
    "PermanentSmsError",
    "RecipientOptedOut",
    "SmsError",
    "TransientSmsError",
]

OPTED_OUT_CODE: Final = 21610
"""Twilio's error code for "Attempt to send to unsubscribed recipient"."""


class SmsError(Exception):
    """Sending a text failed.

    ``status`` is the provider's HTTP status, or None when no response arrived.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientSmsError(SmsError):
    """The provider is busy, failing or unreachable: send the same message again later.

    ``retry_after`` is how many seconds the provider asked us to wait (its ``Retry-After``
    header), or None when it did not say.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentSmsError(SmsError):
    """The provider refused this message; sending it again would be refused again.

    ``code`` is the provider's error code (Twilio's, e.g. 21211 for an invalid "To" number),
    or None when it gave none.
    """

    def __init__(self, message: str, *, code: int | None, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.code = code

    def __str__(self) -> str:
        return self.message if self.code is None else f"{self.message} (code {self.code})"


class RecipientOptedOut(PermanentSmsError):
    """The recipient unsubscribed (texted STOP): never text them again until they opt back in."""

    def __init__(self, message: str, *, status: int | None = 400) -> None:
        super().__init__(message, code=OPTED_OUT_CODE, status=status)
