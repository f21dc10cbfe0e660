"""A stand-in for Twilio's REST API (the Messages resource) on a loopback port.

:class:`TwilioApiStub` is an aiohttp server on ``127.0.0.1`` (port 0, so the OS picks one)
that answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` the way Twilio does:

- HTTP Basic auth with the stub's account SID and auth token, else 401 (code 20003);
  another account's path gives 404 (code 20404); a form without ``To``, ``From`` or
  ``Body`` gives 400 (codes 21604, 21603, 21602);
- then the next scripted answer (:meth:`TwilioApiStub.respond`), or 201 when the script is
  empty: a Message resource (``sid`` "SM" + 32 hex digits, ``status`` "queued",
  ``num_segments`` from :func:`sms.segments.count_segments`, RFC 2822 dates, ``uri``...);
- errors carry Twilio's JSON body ``{"code", "message", "more_info", "status"}`` and a 429
  may carry ``Retry-After``; a scripted answer can be held back (``delay``) to test timeouts;
- ``I-Twilio-Idempotency-Token``: a token that already got a 201 gets the very same 201
  again, without consuming the script or accepting a second message (as a provider that
  honours the token would; Twilio's REST API does not document it, so tests that count
  duplicates look at ``accepted`` and at the tokens of ``requests``).

Every request is recorded in :attr:`TwilioApiStub.requests` (form, headers, credentials);
:attr:`TwilioApiStub.accepted` holds one :class:`AcceptedMessage` per accepted message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import socket
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Final, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from sms.segments import count_segments

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "IDEMPOTENCY_HEADER",
    "AcceptedMessage",
    "RecordedRequest",
    "ScriptedResponse",
    "TwilioApiStub",
]

ACCOUNT_SID: Final = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN: Final = "twilio-stub-auth-token-0123456789"
IDEMPOTENCY_HEADER: Final = "I-Twilio-Idempotency-Token"
API_VERSION: Final = "2010-04-01"

_DEFAULT_ERRORS: Final[Mapping[int, tuple[int, str]]] = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
_DEFAULT_MESSAGES: Final[Mapping[int, str]] = {
    21610: "Attempt to send to unsubscribed recipient",
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the stub received, whatever it answered."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    form: Mapping[str, str]
    auth: tuple[str, str] | None
    """The Basic credentials (user, password), or None."""

    @property
    def idempotency_token(self) -> str | None:
        """The ``I-Twilio-Idempotency-Token`` header, if sent."""
        return self.headers.get(IDEMPOTENCY_HEADER)


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    """A message the stub accepted (answered 201 for the first time)."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    idempotency_token: str | None
    resource: Mapping[str, object]
    """The JSON body of the 201."""


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """An answer queued with :meth:`TwilioApiStub.respond`."""

    status: int
    code: int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0


def _error_body(status: int, code: int | None, message: str | None) -> dict[str, object]:
    default_code, default_message = _DEFAULT_ERRORS.get(status, (status, "Error"))
    code = default_code if code is None else code
    if message is None:
        message = _DEFAULT_MESSAGES.get(code, default_message)
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class TwilioApiStub:
    """Twilio's Messages API on a loopback port; use ``async with`` or start()/close()."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self.accepted: list[AcceptedMessage] = []
        self._script: deque[ScriptedResponse] = deque()
        self._by_token: dict[str, bytes] = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, what the provider's ``api_base_url`` should be."""
        if self._port is None:
            raise RuntimeError("TwilioApiStub is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def messages_url(self) -> str:
        """The full URL of the Messages resource of the stub's account."""
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    @property
    def open_connections(self) -> int:
        """HTTP connections currently open to the stub (keep-alive ones included)."""
        server = self._runner.server if self._runner is not None else None
        return 0 if server is None else len(server.connections)

    def respond(
        self,
        status: int = 201,
        *,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue the answer to the next valid request (201 accepts the message).

        ``delay`` holds the answer back that many seconds (or until the stub closes).
        """
        self._script.append(ScriptedResponse(status, code, message, retry_after, delay))

    async def start(self) -> Self:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runner = runner
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        self._port = sock.getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening and drop open connections."""
        self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _handle(self, request: web.Request) -> web.Response:
        posted = await request.post()
        form = {key: value for key, value in posted.items() if isinstance(value, str)}
        auth = _basic_credentials(request.headers.get("Authorization"))
        recorded = RecordedRequest(
            request.method, request.path, CIMultiDictProxy(CIMultiDict(request.headers)), form, auth
        )
        self.requests.append(recorded)
        if auth != (self.account_sid, self.auth_token):
            return self._error(401)
        expected = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        if request.method != "POST" or request.path != expected:
            return self._error(404, message=f"The requested resource {request.path} was not found")
        for field, code, text in (
            ("To", 21604, "A 'To' phone number is required."),
            ("From", 21603, "A 'From' phone number is required."),
            ("Body", 21602, "Message body is required."),
        ):
            if not form.get(field):
                return self._error(400, code=code, message=text)
        token = recorded.idempotency_token
        if token is not None and token in self._by_token:
            return self._created(self._by_token[token])
        scripted = self._script.popleft() if self._script else ScriptedResponse(201)
        if scripted.delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), scripted.delay)
        if scripted.status != 201:
            return self._error(
                scripted.status, scripted.code, scripted.message, scripted.retry_after
            )
        body = self._accept(form, token)
        if token is not None:
            self._by_token[token] = body
        return self._created(body)

    def _accept(self, form: Mapping[str, str], token: str | None) -> bytes:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC).replace(microsecond=0))
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        resource: dict[str, object] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form["From"],
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(count_segments(form["Body"]).segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": form["To"],
            "uri": f"{base}.json",
        }
        self.accepted.append(
            AcceptedMessage(
                sid=sid,
                to=form["To"],
                from_=form["From"],
                body=form["Body"],
                status_callback=form.get("StatusCallback"),
                idempotency_token=token,
                resource=resource,
            )
        )
        return json.dumps(resource).encode()

    @staticmethod
    def _created(body: bytes) -> web.Response:
        return web.Response(status=201, body=body, content_type="application/json")

    @staticmethod
    def _error(
        status: int,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> web.Response:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return web.json_response(_error_body(status, code, message), status=status, headers=headers)
