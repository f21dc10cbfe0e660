"""A call's recording audio, fetched from Twilio for the call log's players.

A ``record`` step keeps Twilio's ``RecordingUrl``
(``https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Recordings/RE...``). Its audio is
behind HTTP Basic auth with the account SID and auth token, so a browser cannot play it
itself: :class:`RecordingFetcher` fetches ``<path>.mp3`` with the account's Basic credentials and
streams it on, as it comes, to whoever asked (the admin API checks who that may be).

The stored URL came in a webhook form, so it is never fetched as it is: it must be a
recording of *this* account on ``api.twilio.com`` (:meth:`RecordingFetcher.media_url`), and
the URL fetched is rebuilt from its account and recording SIDs on the configured API base
(``RINGFLOW_TWILIO_API_URL``, else ``https://api.twilio.com``). Nothing else is ever asked
for, so a forged URL cannot make the server fetch another host (no SSRF) or send the
credentials anywhere else. Redirects are not followed, for the same reason.

A player that seeks asks for part of the audio (``Range: bytes=...``). One well-formed byte
range is passed on to Twilio and its partial answer (206 with ``Content-Range``, or 416) is
passed back; any other ``Range`` is ignored, as HTTP allows, and the whole audio is sent. A
Twilio that ignores the range sends the whole audio too, and the player copes with that.

Errors (``RecordingError`` and below)::

    RecordingError
     ├── NotOurRecording       the URL is not a recording of this account: nothing fetched
     ├── RecordingGone         Twilio answers 404: deleted, or never there
     └── RecordingUnavailable  Twilio refused otherwise, or could not be reached in time
"""

from __future__ import annotations

import logging
import math
import re
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from ringflow.settings import Settings

__all__ = [
    "CACHE_SECONDS",
    "NotOurRecording",
    "RecordingError",
    "RecordingFetcher",
    "RecordingGone",
    "RecordingUnavailable",
    "recording_fetcher",
]

log = logging.getLogger(__name__)

TWILIO_API: Final = "https://api.twilio.com"
CACHE_SECONDS: Final = 3600
"""How long a browser may keep a recording's audio (it never changes; it may be deleted)."""
CHUNK: Final = 64 * 1024
_PATH: Final = re.compile(
    r"/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})"
    r"/Recordings/(?P<sid>RE[0-9a-f]{32})(?:\.(?:mp3|wav))?"
)
_HOSTS: Final = frozenset({"api.twilio.com", "api.twilio.com:443"})
_BYTE_RANGE: Final = re.compile(r"bytes=(?:[0-9]{1,15}-[0-9]{0,15}|-[0-9]{1,15})")
"""One byte range (RFC 9110 §14.1.2): the only kind passed on to Twilio."""
_PART_SENT: Final = re.compile(r"bytes [0-9]{1,15}-[0-9]{1,15}/(?:[0-9]{1,15}|\*)")
"""A 206's ``Content-Range``."""
_LENGTH_ONLY: Final = re.compile(r"bytes \*/[0-9]{1,15}")
"""A 416's ``Content-Range``: how long the whole is."""


class RecordingError(Exception):
    """A recording's audio cannot be had; ``reason`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotOurRecording(RecordingError):
    """The stored URL is not a recording of this account on Twilio: nothing was fetched."""


class RecordingGone(RecordingError):
    """Twilio has no such recording (404): deleted, or never there."""


class RecordingUnavailable(RecordingError):
    """Twilio refused the request (other than 404) or could not be reached in time."""


class RecordingFetcher:
    """Fetches recordings of one Twilio account (see the module docstring). Its HTTP session
    is opened on first use; :meth:`close` closes it."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base_url: str | None = None,
        timeout: float = 15,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("RecordingFetcher needs an account SID and an auth token")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        base = (api_base_url or TWILIO_API).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"api_base_url must be an http(s) URL, not {api_base_url!r}")
        self._account_sid = account_sid
        # A header, not ``aiohttp.BasicAuth`` (deprecated), as for Twilio's other APIs.
        self._headers = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token)}
        self._base = base
        # Connecting and each read are bounded, not the whole answer: a long recording may
        # take longer than ``timeout`` to stream, a stalled Twilio may not.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    def media_url(self, recording_url: str) -> str:
        """The URL of the MP3 of the recording at ``recording_url`` (Twilio's
        ``RecordingUrl``), on the configured API; :class:`NotOurRecording` unless it is a
        recording of this account on ``api.twilio.com``."""
        try:
            parts = urlsplit(recording_url.strip())
        except ValueError:
            parts = None
        if parts is None or parts.scheme != "https" or parts.netloc.lower() not in _HOSTS:
            raise NotOurRecording("the recording's URL is not on api.twilio.com")
        found = None if parts.query or parts.fragment else _PATH.fullmatch(parts.path)
        if found is None:
            raise NotOurRecording("the recording's URL is not a Twilio recording")
        if found["account"] != self._account_sid:
            raise NotOurRecording("the recording belongs to another Twilio account")
        return f"{self._base}/2010-04-01/Accounts/{found['account']}/Recordings/{found['sid']}.mp3"

    async def respond(self, request: web.Request, recording_url: str) -> web.StreamResponse:
        """Answer ``request`` with the recording's MP3, streamed from Twilio as it comes.
        Raises a :class:`RecordingError` before anything is answered; a Twilio that stops
        in the middle cuts the answer short (its status is sent by then)."""
        url = self.media_url(recording_url)
        sid = url.rsplit("/", 1)[1].removesuffix(".mp3")
        headers = dict(self._headers)
        asked = request.headers.get("Range", "").strip()
        if _BYTE_RANGE.fullmatch(asked):
            headers["Range"] = asked
        try:
            upstream = await self._http().get(
                url, headers=headers, allow_redirects=False, timeout=self._timeout
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            log.warning("recording %s: Twilio unreachable: %s", sid, type(error).__name__)
            raise RecordingUnavailable("Twilio could not be reached for the recording") from None
        async with upstream:
            if upstream.status == 404:
                raise RecordingGone("Twilio no longer has the recording (404)")
            content_range = upstream.headers.get("Content-Range", "")
            if upstream.status == 416 and "Range" in headers:
                # Past the end (a player asking for more than there is): say how long it is.
                unsatisfiable = web.Response(status=416)
                if _LENGTH_ONLY.fullmatch(content_range):
                    unsatisfiable.headers["Content-Range"] = content_range
                return unsatisfiable
            partial = upstream.status == 206 and "Range" in headers
            if partial and not _PART_SENT.fullmatch(content_range):
                log.warning("recording %s: Twilio's partial answer has no valid range", sid)
                raise RecordingUnavailable(
                    "Twilio answered part of the recording without saying which"
                )
            if upstream.status != 200 and not partial:
                log.warning("recording %s: Twilio answered %s", sid, upstream.status)
                raise RecordingUnavailable(
                    f"Twilio refused to hand over the recording (HTTP {upstream.status})"
                )
            answer = web.StreamResponse(
                status=upstream.status,
                headers={
                    "Content-Type": "audio/mpeg",
                    "Cache-Control": f"private, max-age={CACHE_SECONDS}",
                    "X-Content-Type-Options": "nosniff",
                },
            )
            if partial:
                answer.headers["Content-Range"] = content_range
            if upstream.headers.get("Accept-Ranges", "").strip().lower() == "bytes":
                answer.headers["Accept-Ranges"] = "bytes"
            if upstream.content_length is not None:
                # Known length: a player can seek, and sees a cut-short answer as one.
                answer.content_length = upstream.content_length
            await answer.prepare(request)
            try:
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await answer.write(chunk)
            except (aiohttp.ClientPayloadError, aiohttp.ServerConnectionError, TimeoutError):
                # Too late for an error status: end the connection without the rest, so the
                # player sees a broken answer rather than a short, complete-looking one.
                log.warning("recording %s: Twilio stopped in the middle of the audio", sid)
                _hang_up(request, answer)
                return answer
            except ConnectionError:
                # The player went away (paused, seeked, closed the page): nothing is wrong.
                log.debug("recording %s: the listener left before the end", sid)
                _hang_up(request, answer)
                return answer
        await answer.write_eof()
        return answer

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (if one was opened)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _hang_up(request: web.Request, answer: web.StreamResponse) -> None:
    """End the connection of an answer that cannot be finished."""
    answer.force_close()
    if request.transport is not None:
        request.transport.close()


def recording_fetcher(settings: Settings) -> RecordingFetcher | None:
    """The fetcher of the configured Twilio account's recordings (None without one)."""
    sid, token = settings.twilio_account_sid, settings.auth_token
    if not (sid and token):
        return None
    return RecordingFetcher(sid, token, api_base_url=settings.twilio_api_base_url)
