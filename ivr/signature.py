"""Check ``X-Twilio-Signature`` on webhooks, against the URL Twilio was given.

Behind a proxy, ``request.url`` is not what Twilio signed, so when ``RINGFLOW_PUBLIC_URL`` is
set the URL is rebuilt from it and the request's path and query (never from X-Forwarded-*
headers, which anyone can send).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from twilio.request_validator import RequestValidator


class SignatureChecker:
    """Validates webhook signatures with the account's auth token."""

    def __init__(self, auth_token: str, public_url: str | None) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url

    def signed_url(self, request: web.Request) -> str:
        """The URL Twilio computed the signature over."""
        if self._public_url:
            return self._public_url + request.rel_url.raw_path_qs
        return str(request.url)

    def is_valid(self, request: web.Request, form: Mapping[str, str]) -> bool:
        """Whether the request carries a valid signature for its URL and form."""
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return False
        valid: bool = self._validator.validate(self.signed_url(request), dict(form), signature)
        return valid
