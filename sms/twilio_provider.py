"""Sends texts through Twilio's Messages API with the twilio library's async client.

:class:`TwilioSmsProvider` calls ``client.messages.create_async(...)`` (and, to look a text
up, ``client.messages.stream_async(...)``) on a twilio ``Client`` whose HTTP client is the
shared :class:`ringflow.twilio_rest.RestHttpClient` (Basic credentials as a header, a timeout
on every request), subclassed for one more thing the library does not offer (it gives no
response headers on its exceptions): it keeps the ``Retry-After`` header of the response,
which becomes :attr:`TransientSmsError.retry_after`.

Twilio creates a new message for every create request (its REST API honours no idempotency
header), so failures are sorted by whether a message may exist (:mod:`sms.errors`): a 4xx
refusal or a connection that could not be opened created nothing (:class:`TransientSmsError`,
:class:`PermanentSmsError`, :class:`CredentialsRefused`); a timeout, a connection lost after
the request was sent, a 5xx or an unreadable 2xx may have (:class:`SendOutcomeUnknown`), and
the sender then calls :meth:`~TwilioSmsProvider.find_sent` before sending again.

:meth:`~TwilioSmsProvider.find_sent` lists the messages from our number to the recipient,
newest first, in small pages (``GET .../Messages.json?To=&From=&PageSize=``), and keeps those
with the same body created at or after ``since``; when more than :data:`LOOKUP_LIMIT` messages
went to the recipient since then, it says it cannot tell (a :class:`TransientSmsError`)
rather than "not found", which would send the text again. It does not filter on
``DateSent``: that is a day-precision date set only once Twilio has sent the message, so a
message still ``queued`` or ``accepted`` would not match it.

The send in progress reaches the HTTP client through a context variable, so concurrent
sends (each in its own task) never see each other's Retry-After.

``api_base_url`` replaces ``https://api.twilio.com`` (Twilio-compatible providers, or the
local stub in tests): requests go to
``{api_base_url}/2010-04-01/Accounts/{account_sid}/Messages.json``. With it set,
``TWILIO_EDGE`` / ``TWILIO_REGION`` are ignored, since the library would splice them into
the host name.

The aiohttp session needs a running event loop, so it is created on the first request (or on
entering ``async with``), and :meth:`~TwilioSmsProvider.close` closes it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import aiohttp
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.rest import Client

from ringflow.clock import Clock, system_clock
from ringflow.twilio_rest import RestHttpClient
from sms.errors import (
    OPTED_OUT_CODE,
    CredentialsRefused,
    PermanentSmsError,
    RecipientOptedOut,
    SendOutcomeUnknown,
    SmsError,
    TransientSmsError,
)
from sms.provider import OutgoingSms, SentSms

__all__ = ["LOOKUP_LIMIT", "LOOKUP_PAGE_SIZE", "TwilioSmsProvider"]

LOOKUP_PAGE_SIZE: Final = 20
"""Messages per page when looking a text up (the newest few are almost always enough)."""
LOOKUP_LIMIT: Final = 200
"""At most this many messages from our number to the recipient are read in one lookup."""

_LIBRARY_PREFIXES: Final = ("Unable to create record: ", "Unable to fetch page: ")


@dataclass
class _Exchange:
    """One request as its HTTP client sees it: when it started (an HTTP-date Retry-After
    counts from then), the Retry-After it got back."""

    started: datetime
    retry_after: float | None = None


_EXCHANGE: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "twilio_sms_exchange", default=None
)


class _HttpClient(RestHttpClient):
    """The shared Twilio REST client, plus the Retry-After of each answer."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (the library calls it so)
        allow_redirects: bool = False,
    ) -> Any:
        exchange = _EXCHANGE.get()
        response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        if exchange is not None:
            exchange.retry_after = parse_retry_after(response.headers or {}, exchange.started)
        return response


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds, or an HTTP date compared with
    ``now``), or None."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _error_for(status: int, code: int | None, message: str, retry_after: float | None) -> SmsError:
    if code == OPTED_OUT_CODE:
        return RecipientOptedOut(message, status=status)
    if status >= 500:
        # Twilio (or a proxy in front of it) failed while handling the request: it may have
        # created the message before failing.
        return SendOutcomeUnknown(message, status=status, retry_after=retry_after)
    if status in (408, 429):
        return TransientSmsError(message, status=status, retry_after=retry_after)
    if status in (401, 403):
        # Our credentials, not this text: every text fails alike until an admin fixes them.
        return CredentialsRefused(
            f"Twilio refused our credentials (HTTP {status}"
            + ("" if code is None else f", code {code}")
            + f": {message}): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
            status=status,
        )
    return PermanentSmsError(message, code=code, status=status)


def _page_error(exc: TwilioException, retry_after: float | None) -> SmsError:
    """The error of a list page that was not 200 (the library raises a bare
    ``TwilioException("Unable to fetch page", response)`` for it)."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return TransientSmsError(f"the Twilio API failed a lookup: {exc}")
    code, message = None, f"HTTP {status}"
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        body = json.loads(str(getattr(response, "text", "")))
        code, message = body.get("code"), str(body.get("message") or message)
    return _error_for(status, code if isinstance(code, int) else None, message, retry_after)


def _connection_error(exc: BaseException, doing: str) -> SmsError:
    """A failure without an answer: clear if no connection was ever made, unclear otherwise."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return TransientSmsError(f"could not reach the Twilio API to {doing}: {exc!r}")
    return SendOutcomeUnknown(f"no answer from the Twilio API to {doing}: {exc!r}")


def _segments(value: object) -> int | None:
    """Twilio's ``num_segments`` ("0" while a Messaging Service has not picked a sender)."""
    try:
        segments = int(str(value))
    except ValueError:
        return None
    return segments if segments > 0 else None


class TwilioSmsProvider:
    """An :class:`sms.provider.SmsProvider` backed by Twilio (or a Twilio-compatible API).

    ``timeout`` bounds each request in seconds (connecting, sending, reading the answer).
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base_url: str | None = None,
        timeout: float = 10,
        clock: Clock = system_clock,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("TwilioSmsProvider needs an account SID and an auth token")
        if ":" in account_sid:
            raise ValueError("an account SID cannot contain ':'")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if api_base_url is not None:
            parts = urlsplit(api_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"api_base_url must be an http(s) URL, not {api_base_url!r}")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_base_url = api_base_url
        self._timeout = float(timeout)
        self._clock = clock
        self._http: _HttpClient | None = None
        self._client: Any = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _twilio(self) -> Any:
        """The twilio ``Client``, created on first use (inside the running loop)."""
        if self._closed:
            raise RuntimeError("TwilioSmsProvider is closed")
        if self._client is None:
            self._http = _HttpClient(timeout=self._timeout)
            client = Client(self._account_sid, self._auth_token, http_client=self._http)
            if self._api_base_url is not None:
                client.api.base_url = self._api_base_url.rstrip("/")
                client.edge = None
                client.region = None
            self._client = client
        return self._client

    async def send(self, message: OutgoingSms) -> SentSms:
        """Create the message; raises the :mod:`sms.errors` tree when Twilio does not."""
        messages = self._twilio().messages
        options: dict[str, str] = {}
        if message.status_callback is not None:
            options["status_callback"] = message.status_callback
        async with self._exchange("send a text") as exchange:
            try:
                created = await messages.create_async(
                    to=message.to, from_=message.from_, body=message.body, **options
                )
            except ValueError as exc:  # a 2xx whose body is not JSON
                raise SendOutcomeUnknown(f"unreadable answer from the Twilio API: {exc}") from exc
        del exchange
        if not created.sid or not created.status:
            raise SendOutcomeUnknown("the Twilio API accepted the message but gave no sid/status")
        return SentSms(str(created.sid), str(created.status), _segments(created.num_segments))

    async def find_sent(self, message: OutgoingSms, *, since: datetime) -> list[SentSms]:
        """The messages Twilio created from ``message.from_`` to ``message.to`` with
        ``message.body`` at or after ``since``, oldest first (see the module docstring)."""
        messages = self._twilio().messages
        found: list[SentSms] = []
        async with self._exchange("look a text up"):
            try:
                listed = await messages.stream_async(
                    to=message.to,
                    from_=message.from_,
                    limit=LOOKUP_LIMIT,
                    page_size=LOOKUP_PAGE_SIZE,
                )
                read, complete = 0, False
                async for record in listed:
                    read += 1
                    created = record.date_created
                    if not isinstance(created, datetime):
                        continue
                    if created < since:
                        complete = True  # newest first: every later one is older still
                        break
                    if record.body == message.body and record.sid:
                        status = str(record.status or "queued")
                        found.append(
                            SentSms(str(record.sid), status, _segments(record.num_segments))
                        )
            except ValueError as exc:
                raise TransientSmsError(f"unreadable answer from the Twilio API: {exc}") from exc
        if read >= LOOKUP_LIMIT and not complete:
            # The one we look for may be further down: saying "not found" could send it twice.
            raise TransientSmsError(
                f"lookup inconclusive: more than {LOOKUP_LIMIT} messages to this number since "
                f"{since.isoformat()}"
            )
        found.reverse()
        return found

    @contextlib.asynccontextmanager
    async def _exchange(self, doing: str) -> AsyncIterator[_Exchange]:
        """One request to Twilio, its failures as the :mod:`sms.errors` tree."""
        exchange = _Exchange(self._clock())
        token = _EXCHANGE.set(exchange)
        try:
            yield exchange
        except TwilioRestException as exc:
            text = str(exc.msg)
            for prefix in _LIBRARY_PREFIXES:
                text = text.removeprefix(prefix)
            status, code = int(exc.status), exc.code
            raise _error_for(status, code, text, exchange.retry_after) from exc
        except TwilioServiceException as exc:
            text = str(exc.detail or exc.title)
            raise _error_for(int(exc.status), exc.code, text, exchange.retry_after) from exc
        except TwilioException as exc:  # a list page answered with an error
            raise _page_error(exc, exchange.retry_after) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _connection_error(exc, doing) from exc
        finally:
            _EXCHANGE.reset(token)

    async def close(self) -> None:
        """Close the HTTP session; the provider cannot send afterwards."""
        self._closed = True
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def __aenter__(self) -> Self:
        self._twilio()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
