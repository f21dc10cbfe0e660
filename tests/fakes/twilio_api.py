"""A stand-in for Twilio's REST API (the Messages and Calls resources) on a loopback port.

:class:`TwilioApiStub` is an aiohttp server on ``127.0.0.1`` (port 0, so the OS picks one)
that answers like Twilio does:

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (create a message)

- HTTP Basic auth with the stub's account SID and auth token, else 401 (code 20003);
  another account's path gives 404 (code 20404); a form without ``To``, ``From`` or
  ``Body`` gives 400 (codes 21604, 21603, 21602);
- then the next scripted answer (:meth:`TwilioApiStub.respond`), or 201 when the script is
  empty: a Message resource (``sid`` "SM" + 32 hex digits, ``status`` "queued",
  ``num_segments`` from :func:`sms.segments.count_segments`, RFC 2822 dates, ``uri``...);
- errors carry Twilio's JSON body ``{"code", "message", "more_info", "status"}`` and a 429
  may carry ``Retry-After``;
- every 201 creates a NEW message, like Twilio: nothing is deduplicated, whatever headers the
  request carries (Twilio's REST API does not honour ``I-Twilio-Idempotency-Token``);
- a 201 can be *stalled* (the message is created at once, its answer comes ``delay`` seconds
  later: past a client's timeout, the client never learns the SID) or *lost* (``drop``: the
  message is created and the connection closed without an answer). :attr:`answer_delay`
  stalls every unscripted 201.

``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` (list messages)

- filters ``To``, ``From`` and ``DateSent`` / ``DateSent<`` / ``DateSent>`` (Twilio's
  ``DateSent=``, ``DateSent<=`` and ``DateSent>=``: GMT dates, day precision, matched against
  the day the message was *sent*, so a message still ``queued`` has no ``date_sent`` and
  matches no ``DateSent`` filter); ``PageSize`` (default 50, at most 1000) and ``Page``;
- newest first (by ``date_created``), in Twilio's list format (``messages``, ``page``,
  ``page_size``, ``uri``, ``next_page_uri``...), so the twilio library's
  ``messages.list_async(...)`` / ``stream_async(...)`` read it as they read Twilio's.

``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` (update a live call)

- ``Url`` (and ``Method``) or ``Twiml`` redirects the call: recorded in
  :attr:`TwilioApiStub.redirects`, answered 200 with a Call resource (``sid``, ``status``
  "in-progress", ``uri``...); neither gives 400 (code 21218);
- a call listed in :attr:`TwilioApiStub.ended_calls` is over: 400 with code 21220 ("Call is
  not in-progress. Cannot redirect."), as Twilio answers.

A message counts as sent (``status`` "sent", ``date_sent`` set) once ``send_delay`` seconds of
the stub's clock have passed since it was created; with ``send_delay=None`` messages stay
``queued``. The stub's clock (``clock``, default the system's) stamps ``date_created``: give it
the server's clock when the server's clock is moved.

``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` (create a call) and ``GET`` (list)

- ``To``, ``From`` and ``Url`` (or ``Twiml``) are required (codes 21201, 21213, 21205);
  then the next scripted call answer (:meth:`TwilioApiStub.respond_call`, same options as
  :meth:`respond`), else 201: a Call resource (``sid`` "CA" + 32 hex digits, ``status``
  "queued", ``to``, ``from``, RFC 2822 ``date_created``, ``start_time`` null...). Every 201
  creates a NEW call; nothing is dialled: the test plays Twilio's part with the webhooks;
- the list filters ``To`` and ``From``, newest first, in Twilio's list format (``calls``...);
  ``GET .../Calls/{sid}.json`` fetches one, its ``status`` what
  :meth:`TwilioApiStub.set_call_status` said (``queued`` until then).

``GET /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.mp3`` (and ``.wav``)

- the audio a test registered with :meth:`TwilioApiStub.add_recording` (its bytes, as they
  were given, with their ``Content-Type`` and ``Content-Length``), after the same Basic auth
  check (401 otherwise); :meth:`TwilioApiStub.recording_url` is the ``RecordingUrl`` Twilio
  would have posted for it;
- a recording never registered, deleted (:meth:`TwilioApiStub.delete_recording`), of another
  account, or not held in the format asked for is a 404 with Twilio's error JSON (20404);
- ``cut_after`` sends only that many bytes of the announced length, then drops the
  connection (Twilio failing in the middle of the audio);
- one byte range asked for (``Range: bytes=a-b``, ``a-``, ``-n``) is a 206 with that part and
  ``Content-Range``, or a 416 past the end, as media servers answer (RFC 9110 §14); any
  other ``Range`` is ignored; every answer says ``Accept-Ranges: bytes``.

Every request is recorded in :attr:`TwilioApiStub.requests` (form, query, headers,
credentials); :attr:`TwilioApiStub.accepted` holds one :class:`AcceptedMessage` per message
created, duplicates included.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import secrets
import socket
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from types import TracebackType
from typing import Final, Literal, Self
from urllib.parse import urlencode

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ringflow.clock import Clock, system_clock
from sms.segments import count_segments

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "AcceptedCall",
    "AcceptedMessage",
    "CallRedirect",
    "RecordedRequest",
    "ScriptedResponse",
    "StoredRecording",
    "TwilioApiStub",
]

ACCOUNT_SID: Final = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN: Final = "twilio-stub-auth-token-0123456789"
API_VERSION: Final = "2010-04-01"
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
_CALL_PATH: Final = re.compile(
    rf"/{API_VERSION}/Accounts/(?P<account>AC[0-9a-f]{{32}})/Calls/(?P<sid>CA[0-9a-f]{{32}})\.json"
)
_RECORDING_PATH: Final = re.compile(
    rf"/{API_VERSION}/Accounts/(?P<account>AC[0-9a-f]{{32}})"
    rf"/Recordings/(?P<sid>RE[0-9a-f]{{32}})\.(?P<format>mp3|wav)"
)
_AUDIO_FORMATS: Final[Mapping[str, str]] = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
}

_DEFAULT_ERRORS: Final[Mapping[int, tuple[int, str]]] = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    403: (20003, "Permission Denied"),
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
    query: Mapping[str, str]
    auth: tuple[str, str] | None
    """The Basic credentials (user, password), or None."""


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    """A message the stub created (one per 201 it decided on, answered or not)."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    created: datetime
    resource: Mapping[str, object]
    """The JSON body of the 201."""


@dataclass(frozen=True, slots=True)
class AcceptedCall:
    """A call the stub created (one per 201 it decided on, answered or not)."""

    sid: str
    to: str
    from_: str
    url: str | None
    status_callback: str | None
    form: Mapping[str, str]
    created: datetime
    resource: Mapping[str, object]


@dataclass(frozen=True)
class CallRedirect:
    """A live call the stub was asked to redirect."""

    sid: str
    url: str | None
    method: str
    twiml: str | None


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """A recording's audio in one format, as :meth:`TwilioApiStub.add_recording` got it."""

    data: bytes
    content_type: str
    cut_after: int | None = None
    """Send only this many bytes, then drop the connection (None: all of them)."""
    labels_parts: bool = True
    """Say which part a 206 holds (``Content-Range``), as every media server must."""


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """An answer queued with :meth:`TwilioApiStub.respond`."""

    status: int
    code: int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False


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


def _day(value: str) -> date:
    """A ``DateSent`` filter's day: ``YYYY-MM-DD``, or the date part of an ISO 8601 time (the
    twilio library sends ``YYYY-MM-DDTHH:MM:SSZ``; Twilio reads only the date)."""
    return date.fromisoformat(value.strip()[:10])


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


class TwilioApiStub:
    """Twilio's Messages API on a loopback port; use ``async with`` or start()/close()."""

    def __init__(
        self,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        *,
        clock: Clock = system_clock,
        send_delay: float | None = 0.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = clock
        self.send_delay = send_delay
        self.answer_delay = 0.0
        """Seconds every unscripted 201 is held back after its message was created."""
        self.requests: list[RecordedRequest] = []
        self.accepted: list[AcceptedMessage] = []
        self.calls: list[AcceptedCall] = []
        """Every call created, duplicates included."""
        self.call_statuses: dict[str, str] = {}
        self.inbound_calls: dict[str, dict[str, object]] = {}
        """Calls made to the account's numbers (see :meth:`add_inbound_call`), by SID."""
        self.redirects: list[CallRedirect] = []
        """Every accepted update of a live call, in order."""
        self.ended_calls: set[str] = set()
        self.recordings: dict[str, dict[str, StoredRecording]] = {}
        """The audio of each recording SID, by format (``mp3``, ``wav``)."""
        self._redirected = asyncio.Event()
        """Calls that are over: redirecting them is refused with 21220."""
        self._script: deque[ScriptedResponse] = deque()
        self._call_script: deque[ScriptedResponse] = deque()
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
    def messages_path(self) -> str:
        """The path of the Messages resource of the stub's account."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    @property
    def calls_path(self) -> str:
        """The path of the Calls resource of the stub's account."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls.json"

    def respond_call(
        self,
        status: int = 201,
        *,
        code: int | None = None,
        message: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> None:
        """Queue the answer to the next valid call create request (as :meth:`respond`)."""
        self._call_script.append(ScriptedResponse(status, code, message, None, delay, drop))

    @property
    def messages_url(self) -> str:
        """The full URL of the Messages resource of the stub's account."""
        return self.base_url + self.messages_path

    @property
    def open_connections(self) -> int:
        """HTTP connections currently open to the stub (keep-alive ones included)."""
        server = self._runner.server if self._runner is not None else None
        return 0 if server is None else len(server.connections)

    def creations(self) -> list[RecordedRequest]:
        """The requests that asked to create a message (POSTs to the Messages resource)."""
        return [r for r in self.requests if r.method == "POST" and r.path == self.messages_path]

    def lookups(self) -> list[RecordedRequest]:
        """The requests that listed messages (GETs of the Messages resource)."""
        return [r for r in self.requests if r.method == "GET" and r.path == self.messages_path]

    def respond(
        self,
        status: int = 201,
        *,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> None:
        """Queue the answer to the next valid create request (201 creates the message).

        ``delay`` holds the answer back that many seconds (or until the stub closes); a 201's
        message is created before the wait. ``drop`` closes the connection instead of
        answering (after creating the message, for a 201).
        """
        self._script.append(ScriptedResponse(status, code, message, retry_after, delay, drop))

    def add_recording(
        self,
        sid: str,
        data: bytes,
        content_type: str = "audio/mpeg",
        *,
        cut_after: int | None = None,
        labels_parts: bool = True,
    ) -> None:
        """Hold ``data`` as recording ``sid``'s audio in the format of ``content_type``
        (``audio/mpeg``: ``.mp3``; ``audio/wav``: ``.wav``); ``cut_after`` sends only that
        many bytes of it, then drops the connection; ``labels_parts=False`` answers a range
        with a 206 that does not say which part it holds (a broken media server)."""
        if not re.fullmatch(r"RE[0-9a-f]{32}", sid):
            raise ValueError(f"a recording SID is RE and 32 hex digits, not {sid!r}")
        fmt = _AUDIO_FORMATS.get(content_type)
        if fmt is None:
            raise ValueError(f"the stub serves {', '.join(_AUDIO_FORMATS)}, not {content_type}")
        stored = StoredRecording(data, content_type, cut_after, labels_parts)
        self.recordings.setdefault(sid, {})[fmt] = stored

    def delete_recording(self, sid: str) -> None:
        """Forget recording ``sid`` (Twilio's DELETE): fetching it is a 404 from now on."""
        self.recordings.pop(sid, None)

    def recording_url(self, sid: str) -> str:
        """The ``RecordingUrl`` Twilio posts for recording ``sid`` of the stub's account."""
        return f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    def recording_fetches(self) -> list[RecordedRequest]:
        """The requests for a recording's audio (whatever the stub answered)."""
        return [r for r in self.requests if "/Recordings/" in r.path]

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

    async def next_redirect(self, sid: str, followed: int) -> tuple[str, str]:
        """The URL and method of call ``sid``'s next redirect, after the ``followed`` it has
        had (waiting for it): what a softphone's ``dequeued`` asks."""
        while True:
            mine = [r for r in self.redirects if r.sid == sid and r.url]
            if len(mine) > followed:
                found = mine[followed]
                assert found.url is not None
                return found.url, found.method
            await self._redirected.wait()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        posted = await request.post()
        form = {key: value for key, value in posted.items() if isinstance(value, str)}
        auth = _basic_credentials(request.headers.get("Authorization"))
        recorded = RecordedRequest(
            request.method,
            request.path,
            CIMultiDictProxy(CIMultiDict(request.headers)),
            form,
            dict(request.query),
            auth,
        )
        self.requests.append(recorded)
        if auth != (self.account_sid, self.auth_token):
            return self._error(401)
        if request.path == self.calls_path and request.method in ("GET", "POST"):
            return await self._calls(request, form)
        if request.method == "GET" and request.path.startswith(self.calls_path[:-5] + "/"):
            return self._fetch_call(request.path.removeprefix(self.calls_path[:-5] + "/"))
        recording = _RECORDING_PATH.fullmatch(request.path)
        if recording is not None and request.method == "GET":
            return await self._recording(request, recording)
        call = _CALL_PATH.fullmatch(request.path)
        if call is not None and call["account"] == self.account_sid and request.method == "POST":
            return self._update_call(call["sid"], form)
        if request.path != self.messages_path or request.method not in ("GET", "POST"):
            return self._error(404, message=f"The requested resource {request.path} was not found")
        if request.method == "GET":
            return self._list(request)
        for field, code, text in (
            ("To", 21604, "A 'To' phone number is required."),
            ("From", 21603, "A 'From' phone number is required."),
            ("Body", 21602, "Message body is required."),
        ):
            if not form.get(field):
                return self._error(400, code=code, message=text)
        scripted = self._script.popleft() if self._script else None
        if scripted is None:
            scripted = ScriptedResponse(201, delay=self.answer_delay)
        body = self._accept(form) if scripted.status == 201 else None
        if scripted.delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), scripted.delay)
        if scripted.drop:
            return self._hang_up(request)
        if body is None:
            return self._error(
                scripted.status, scripted.code, scripted.message, scripted.retry_after
            )
        return web.Response(status=201, body=body, content_type="application/json")

    async def _calls(self, request: web.Request, form: Mapping[str, str]) -> web.StreamResponse:
        if request.method == "GET":
            return self._list_calls(request)
        for field, code, text in (
            ("To", 21201, "No 'To' number is specified"),
            ("From", 21213, "No 'From' number is specified"),
        ):
            if not form.get(field):
                return self._error(400, code=code, message=text)
        if not (form.get("Url") or form.get("Twiml")):
            return self._error(400, code=21205, message="Url parameter is required.")
        scripted = self._call_script.popleft() if self._call_script else None
        if scripted is None:
            scripted = ScriptedResponse(201, delay=self.answer_delay)
        body = self._accept_call(form) if scripted.status == 201 else None
        if scripted.delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), scripted.delay)
        if scripted.drop:
            return self._hang_up(request)
        if body is None:
            return self._error(scripted.status, scripted.code, scripted.message)
        return web.Response(status=201, body=body, content_type="application/json")

    def _accept_call(self, form: Mapping[str, str]) -> bytes:
        sid = "CA" + secrets.token_hex(16)
        created = self.clock().astimezone(UTC).replace(microsecond=0)
        now = _rfc2822(created)
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}"
        resource: dict[str, object] = {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": form["From"],
            "from_formatted": form["From"],
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {"recordings": f"{base}/Recordings.json"},
            "to": form["To"],
            "to_formatted": form["To"],
            "trunk_sid": None,
            "uri": f"{base}.json",
            "queue_time": "0",
        }
        self.calls.append(
            AcceptedCall(
                sid=sid,
                to=form["To"],
                from_=form["From"],
                url=form.get("Url"),
                status_callback=form.get("StatusCallback"),
                form=dict(form),
                created=created,
                resource=resource,
            )
        )
        return json.dumps(resource).encode()

    def set_call_status(self, sid: str, status: str) -> None:
        """What ``GET .../Calls/{sid}.json`` says of the call from now on."""
        self.call_statuses[sid] = status

    def add_inbound_call(
        self,
        sid: str,
        *,
        from_: str,
        to: str,
        status: str = "in-progress",
        duration: int | None = None,
        ended: datetime | None = None,
    ) -> None:
        """A call made to one of the account's numbers, as ``GET .../Calls/{sid}.json``
        answers it (its status changes with :meth:`set_call_status`; ``duration`` and
        ``ended`` are given once it is over)."""
        started = self.clock().astimezone(UTC).replace(microsecond=0)
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}"
        self.inbound_calls[sid] = {
            "account_sid": self.account_sid,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(started),
            "date_updated": _rfc2822(started),
            "direction": "inbound",
            "duration": None if duration is None else str(duration),
            "end_time": None if ended is None else _rfc2822(ended),
            "forwarded_from": None,
            "from": from_,
            "from_formatted": from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + secrets.token_hex(16),
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": _rfc2822(started),
            "status": status,
            "subresource_uris": {"recordings": f"{base}/Recordings.json"},
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": f"{base}.json",
        }
        self.call_statuses[sid] = status

    def _fetch_call(self, name: str) -> web.Response:
        sid = name.removesuffix(".json")
        inbound = self.inbound_calls.get(sid)
        if inbound is not None:
            return web.json_response({**inbound, "status": self.call_statuses[sid]})
        for call in self.calls:
            if call.sid == sid:
                resource = dict(call.resource)
                resource["status"] = self.call_statuses.get(sid, "queued")
                return web.json_response(resource)
        return self._error(404, message=f"The requested resource Calls/{sid} was not found")

    def _list_calls(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
            page = int(query.get("Page", 0))
        except ValueError as error:
            return self._error(400, code=20001, message=f"Invalid parameter: {error}")
        if not 1 <= size <= MAX_PAGE_SIZE or page < 0:
            return self._error(400, code=20001, message="Invalid PageSize or Page")
        newest_first = sorted(
            enumerate(self.calls), key=lambda item: (item[1].created, item[0]), reverse=True
        )
        listed = [
            dict(call.resource)
            for _, call in newest_first
            if ("To" not in query or call.to == query["To"])
            and ("From" not in query or call.from_ == query["From"])
        ]
        chunk = listed[page * size : (page + 1) * size]
        filters = {key: value for key, value in query.items() if key not in ("Page", "PageSize")}

        def page_uri(number: int) -> str:
            params = {**filters, "PageSize": str(size), "Page": str(number)}
            return f"{self.calls_path}?{urlencode(params)}"

        more = (page + 1) * size < len(listed)
        body = {
            "calls": chunk,
            "end": page * size + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": page * size,
            "uri": page_uri(page),
        }
        return web.json_response(body)

    def _update_call(self, sid: str, form: Mapping[str, str]) -> web.Response:
        url, twiml = form.get("Url") or None, form.get("Twiml") or None
        if url is None and twiml is None:
            return self._error(400, code=21218, message="Url or Twiml is required.")
        if sid in self.ended_calls:
            return self._error(400, code=21220, message="Call is not in-progress. Cannot redirect.")
        self.redirects.append(CallRedirect(sid, url, form.get("Method") or "POST", twiml))
        self._redirected.set()
        self._redirected = asyncio.Event()
        now = _rfc2822(self.clock().astimezone(UTC).replace(microsecond=0))
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "status": "in-progress",
            "direction": "inbound",
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json",
        }
        return web.json_response(resource, status=200)

    async def _recording(self, request: web.Request, found: re.Match[str]) -> web.StreamResponse:
        held = self.recordings.get(found["sid"], {}) if found["account"] == self.account_sid else {}
        stored = held.get(found["format"])
        if stored is None:
            name = f"Recordings/{found['sid']}.{found['format']}"
            return self._error(404, message=f"The requested resource {name} was not found")
        data, total = stored.data, len(stored.data)
        headers = {"Content-Type": stored.content_type, "Accept-Ranges": "bytes"}
        asked = _byte_range(request.headers.get("Range", ""), total)
        if asked == "unsatisfiable":
            return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
        status = 200
        if asked is not None:
            first, last = asked
            data, status = data[first : last + 1], 206
            if stored.labels_parts:
                headers["Content-Range"] = f"bytes {first}-{last}/{total}"
        answer = web.StreamResponse(status=status, headers=headers)
        answer.content_length = len(data)
        await answer.prepare(request)
        if stored.cut_after is None:
            await answer.write(data)
            await answer.write_eof()
            return answer
        await answer.write(data[: stored.cut_after])
        await asyncio.sleep(0.05)  # let the bytes sent so far reach the client first
        return self._hang_up(request)

    @staticmethod
    def _hang_up(request: web.Request) -> web.StreamResponse:
        """Close the connection without an answer (the client sees it reset)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)  # never reaches the client: its connection is gone

    def _accept(self, form: Mapping[str, str]) -> bytes:
        sid = "SM" + secrets.token_hex(16)
        created = self.clock().astimezone(UTC).replace(microsecond=0)
        now = _rfc2822(created)
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
                created=created,
                resource=resource,
            )
        )
        return json.dumps(resource).encode()

    def _as_listed(self, message: AcceptedMessage, now: datetime) -> dict[str, object]:
        """The message as the list shows it now: sent once ``send_delay`` has passed."""
        resource = dict(message.resource)
        if self.send_delay is not None:
            sent_at = message.created + timedelta(seconds=self.send_delay)
            if sent_at <= now:
                resource.update(status="sent", date_sent=_rfc2822(sent_at))
        return resource

    def _list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
            page = int(query.get("Page", 0))
            days = {
                name: _day(query[name])
                for name in ("DateSent", "DateSent<", "DateSent>")
                if name in query
            }
        except ValueError as error:
            return self._error(400, code=20001, message=f"Invalid parameter: {error}")
        if not 1 <= size <= MAX_PAGE_SIZE or page < 0:
            return self._error(400, code=20001, message="Invalid PageSize or Page")
        now = self.clock()
        listed = []
        newest_first = sorted(
            enumerate(self.accepted), key=lambda item: (item[1].created, item[0]), reverse=True
        )
        for _, message in newest_first:
            if "To" in query and message.to != query["To"]:
                continue
            if "From" in query and message.from_ != query["From"]:
                continue
            resource = self._as_listed(message, now)
            if days and not self._sent_within(resource, days):
                continue
            listed.append(resource)
        chunk = listed[page * size : (page + 1) * size]
        filters = {key: value for key, value in query.items() if key not in ("Page", "PageSize")}

        def page_uri(number: int) -> str:
            params = {**filters, "PageSize": str(size), "Page": str(number)}
            return f"{self.messages_path}?{urlencode(params)}"

        more = (page + 1) * size < len(listed)
        body = {
            "messages": chunk,
            "end": page * size + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": page * size,
            "uri": page_uri(page),
        }
        return web.json_response(body)

    @staticmethod
    def _sent_within(resource: Mapping[str, object], days: Mapping[str, date]) -> bool:
        """Whether the message's sending day satisfies every ``DateSent`` filter."""
        sent = resource.get("date_sent")
        if not isinstance(sent, str):
            return False  # not sent yet: Twilio's DateSent filters do not see it
        day = parsedate_to_datetime(sent).astimezone(UTC).date()
        for name, limit in days.items():
            if name == "DateSent" and day != limit:
                return False
            if name == "DateSent<" and day > limit:  # Twilio's DateSent<=
                return False
            if name == "DateSent>" and day < limit:  # Twilio's DateSent>=
                return False
        return True

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


def _byte_range(header: str, total: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The first and last byte of the one range ``header`` asks for; None to send it all."""
    found = re.fullmatch(r"bytes=(?:(\d+)-(\d*)|-(\d+))", header.strip())
    if found is None:
        return None
    start, end, suffix = found.groups()
    if suffix is not None:
        length = int(suffix)
        if length == 0:
            return "unsatisfiable"
        return max(total - length, 0), total - 1
    first = int(start)
    last = total - 1 if not end else min(int(end), total - 1)
    if end and int(end) < first:
        return None  # not a valid range: ignored
    if first >= total:
        return "unsatisfiable"
    return first, last
