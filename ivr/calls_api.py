"""Places the agent leg of a callback through Twilio's Calls API (the twilio library's async
REST client), and looks a call up when a placement had no clear answer.

``POST {api_base_url}/2010-04-01/Accounts/{sid}/Calls.json`` with ``To`` (the agent's phone
number, ``sip:`` URI or ``client:`` identity), ``From`` (the number the customer called),
``Url`` (Ringflow's webhook that speaks to the agent, :mod:`ivr.callbacks`) and
``StatusCallback`` (the agent leg's final status). Twilio creates a call for every request
(calls are not idempotent), so failures are sorted by whether a call may exist: a 4xx or a
connection never opened created nothing (:class:`PlacementRefused`); a timeout, a connection
lost after sending, a 5xx or an unreadable 2xx may have (:class:`PlacementUnclear`), and the
job then looks the call up with :meth:`TwilioCallPlacer.find` (``GET .../Calls.json?To=&From=``,
newest first, compared by ``date_created``: ``StartTime`` filters have day precision and a
call still queued has no start time) before placing it again.

``api_base_url`` replaces ``https://api.twilio.com`` (as for texts, ``RINGFLOW_TWILIO_API_URL``).
The HTTP client sends Basic credentials as a header and bounds every request by ``timeout``
(the library's async client has no timeout of its own).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ringflow.twilio_rest import RestHttpClient
from workflows.callbacks.errors import PlacementRefused, PlacementUnclear
from workflows.callbacks.requests import Placement

__all__ = ["LOOKUP_LIMIT", "TwilioCallPlacer", "agent_target", "callback_path"]

LOOKUP_LIMIT: Final = 100
"""At most this many calls to the agent are read in one lookup."""


def callback_path(callback_id: int, leg: int, step: str) -> str:
    """The path of a placement's webhook (``agent``, ``accept``, ``greet``, ``dialed``,
    ``status``)."""
    return f"/twilio/voice/callbacks/{callback_id}/{leg}/{step}"


def agent_target(kind: str, address: str) -> str:
    """The ``To`` of a call to an agent's endpoint."""
    if kind == "client" and not address.startswith("client:"):
        return f"client:{address}"
    return address


class TwilioCallPlacer:
    """A :class:`workflows.callbacks.job.CallPlacer` backed by Twilio's Calls API."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        public_url: str,
        *,
        api_base_url: str | None = None,
        timeout: float = 10,
        ring_seconds: int = 25,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("TwilioCallPlacer needs an account SID and an auth token")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if api_base_url is not None:
            parts = urlsplit(api_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"api_base_url must be an http(s) URL, not {api_base_url!r}")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._public_url = public_url.rstrip("/")
        self._api_base_url = api_base_url
        self._timeout = float(timeout)
        self._ring = ring_seconds
        self._http: RestHttpClient | None = None
        self._client: Any = None

    def _twilio(self) -> Any:
        if self._client is None:
            self._http = RestHttpClient(timeout=self._timeout)
            client = Client(self._account_sid, self._auth_token, http_client=self._http)
            if self._api_base_url is not None:
                client.api.base_url = self._api_base_url.rstrip("/")
                client.edge = None
                client.region = None
            self._client = client
        return self._client

    async def place(self, placement: Placement) -> str:
        """Call the placement's agent; the new call's SID."""
        calls = self._twilio().calls
        url = self._public_url + callback_path(placement.callback_id, placement.leg, "agent")
        status = self._public_url + callback_path(placement.callback_id, placement.leg, "status")
        try:
            created = await calls.create_async(
                to=agent_target(placement.agent.kind, placement.agent.address),
                from_=placement.our_number,
                url=url,
                method="POST",
                status_callback=status,
                status_callback_method="POST",
                status_callback_event=["completed"],
                timeout=self._ring,
            )
        except TwilioRestException as exc:
            if int(exc.status) >= 500:
                raise PlacementUnclear(f"HTTP {exc.status}: {exc.msg}") from exc
            raise PlacementRefused(f"HTTP {exc.status} (code {exc.code}): {exc.msg}") from exc
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise PlacementRefused(f"could not reach the Twilio API: {exc!r}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise PlacementUnclear(f"no clear answer from the Twilio API: {exc!r}") from exc
        if not created.sid:
            raise PlacementUnclear("the Twilio API accepted the call but gave no sid")
        return str(created.sid)

    async def find(self, placement: Placement, *, since: datetime) -> list[str]:
        """SIDs of calls to the placement's agent from its caller id created since
        ``since``, oldest first."""
        calls = self._twilio().calls
        found: list[str] = []
        complete = False
        read = 0
        try:
            listed = await calls.stream_async(
                to=agent_target(placement.agent.kind, placement.agent.address),
                from_=placement.our_number,
                limit=LOOKUP_LIMIT,
                page_size=20,
            )
            async for record in listed:
                read += 1
                created = record.date_created
                if not isinstance(created, datetime):
                    continue
                if created < since:
                    complete = True
                    break
                if record.sid:
                    found.append(str(record.sid))
        except (TwilioException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise PlacementUnclear(f"could not list calls: {exc!r}") from exc
        if read >= LOOKUP_LIMIT and not complete:
            raise PlacementUnclear(f"more than {LOOKUP_LIMIT} calls to the agent since {since}")
        found.reverse()
        return found

    async def status(self, call_sid: str) -> str:
        """The call's status as Twilio has it now (``queued``, ``ringing``, ``in-progress``,
        ``completed``, ``busy``, ``no-answer``, ``canceled``, ``failed``)."""
        try:
            call = await self._twilio().calls(call_sid).fetch_async()
        except (TwilioException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise PlacementUnclear(f"could not fetch call {call_sid}: {exc!r}") from exc
        return str(call.status or "")

    async def close(self) -> None:
        """Close the HTTP session."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()
