"""What every Twilio webhook shares, whichever channel it serves (voice, SMS): the signature
check (``X-Twilio-Signature``, against the URL Twilio was given), reading the signed form, and
the configuration both read from the app (:data:`TWILIO_WEBHOOKS`). Plumbing: it imports no
channel, so channels never import each other for it.

Behind a proxy, ``request.url`` is not what Twilio signed, so when ``RINGFLOW_PUBLIC_URL`` is
set the URL is rebuilt from it and the request's path and query (never from X-Forwarded-*
headers, which anyone can send).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

Form = MultiDict[Any] | MultiDictProxy[Any]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """How webhooks are checked (``checker`` None: not at all, for local use), which base
    URL goes into the URLs we give Twilio, and how long a webhook may take to answer
    (seconds): ``deadline`` for a turn a caller waits on, ``status_deadline`` for a status
    callback, which nobody waits on and which is worth every second Twilio gives it."""

    checker: SignatureChecker | None
    public_url: str | None
    deadline: float = 5.0
    status_deadline: float = 12.0


TWILIO_WEBHOOKS = web.AppKey("twilio_webhooks", WebhookConfig)
"""The app's webhook configuration, set by the composition root."""


async def signed_form(request: web.Request, id_field: str) -> dict[str, str] | None:
    """:func:`read_signed_form` with the app's checker (:data:`TWILIO_WEBHOOKS`)."""
    return await read_signed_form(request, request.app[TWILIO_WEBHOOKS].checker, id_field)


async def read_signed_form(
    request: web.Request, checker: SignatureChecker | None, id_field: str
) -> dict[str, str] | None:
    """A webhook's form fields, or None when ``checker`` is set and the signature does not
    hold (logged with the form's ``id_field``, e.g. CallSid). Nothing is stored either way."""
    posted = await request.post()
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    if checker is not None and not checker.is_valid(request, posted):
        if checker.rejected is not None:
            checker.rejected("voice" if id_field == "CallSid" else "sms")
        log.warning(
            "rejected %s: bad or missing X-Twilio-Signature (%s %s)",
            request.path,
            id_field,
            form.get(id_field, "?")[:64],
        )
        return None
    return form


class SignatureChecker:
    """Validates webhook signatures with the account's auth token; ``rejected(channel)`` is
    told of each webhook refused (metrics)."""

    def __init__(
        self,
        auth_token: str,
        public_url: str | None,
        rejected: Callable[[str], None] | None = None,
    ) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url
        self.rejected = rejected

    def signed_url(self, request: web.Request) -> str:
        """The URL Twilio computed the signature over."""
        if self._public_url:
            return self._public_url + request.rel_url.raw_path_qs
        return str(request.url)

    def is_valid(self, request: web.Request, form: Form) -> bool:
        """Whether the request carries a valid signature for its URL and form.

        The form stays a multidict: the library reads repeated keys from it (and, given a
        plain dict, pays for two exceptions per field finding that out). The URL as
        configured is tried first; the library's full check, which also tries the URL with
        and without an explicit port, only when that fails.
        """
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return False
        url = self.signed_url(request)
        expected: str = self._validator.compute_signature(url, form)
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return True
        valid: bool = self._validator.validate(url, form, signature)
        return valid
