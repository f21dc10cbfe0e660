"""What can go wrong sending a text, sorted by what the sender should do about it.

::

    SmsError                      anything a provider's send() or find_sent() raises
    ├── TransientSmsError         retry later: 408, 429, connection refused (nothing was created)
    │   │                         (.retry_after: seconds from a Retry-After header, or None)
    │   └── SendOutcomeUnknown    the provider may have created the message: a timeout, a
    │                             connection lost after the request was written, a 5xx, an
    │                             unreadable 2xx. Look it up (find_sent) before sending again
    ├── CredentialsRefused        401/403: our account SID or auth token is wrong; every text
    │                             would fail alike, so sending pauses until an admin fixes it
    └── PermanentSmsError         never retry: any other 4xx (.code: the provider's error code)
        └── RecipientOptedOut     Twilio 21610: the recipient texted STOP

Providers do not deduplicate sends (Twilio's Messages API creates a new message for every
request, whatever header it carries), so a retry is safe only when the first attempt surely
created nothing: after :class:`SendOutcomeUnknown` the sender must look the message up first.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "OPTED_OUT_CODE",
    "CredentialsRefused",
    "PermanentSmsError",
    "RecipientOptedOut",
    "SendOutcomeUnknown",
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
    """The provider is busy or unreachable and created nothing: send the same message again
    later.

    ``retry_after`` is how many seconds the provider asked us to wait (its ``Retry-After``
    header), or None when it did not say.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class SendOutcomeUnknown(TransientSmsError):
    """No clear answer: the provider may or may not have created the message.

    Sending again could text the recipient twice; look the message up with the provider's
    ``find_sent`` first and send again only if it is not there.
    """


class CredentialsRefused(SmsError):
    """The provider refused our credentials (HTTP 401 or 403): nothing can be sent until an
    admin fixes them. Nothing was created."""


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
