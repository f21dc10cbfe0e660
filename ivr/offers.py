"""Connecting a queued caller with the agent who freed up: the ``call.offer`` job.

:func:`workflows.people.queue.dispatch` claims the caller and the agent and writes this job in
the same transaction. The job checks the offer is still open (the caller may have hung up
meanwhile), then redirects the waiting call through Twilio's Calls API
(``POST /2010-04-01/Accounts/{sid}/Calls/{CallSid}.json`` with ``Url``, through the same
configurable API base URL texts use) to the run's resume URL with the agent's name: the
``connect`` step then rings that agent. A call Twilio says is over (404, or 21220 "not
in-progress") loses its offer: the agent is free again and the queue is served anew; other
refusals put the caller back in their place and free the agent (as does a server without a
Twilio account or public URL), connection failures and 5xx are retried with backoff.

:class:`TwilioCalls` also reads a call (``GET .../Calls/{CallSid}.json``) for
:mod:`ivr.status_check`, with the same sorting of failures.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.service import resume_prefix
from ringflow.clock import Clock
from ringflow.database import Database
from ringflow.settings import Settings
from ringflow.twilio_rest import RestHttpClient
from workflows.jobs import ClaimedJob, FinalWrite, PermanentJobError, TransientJobError
from workflows.people.queue import offer_failed, offer_lost, open_offer

log = logging.getLogger(__name__)

CALL_GONE_CODES: Final = frozenset({20404, 21220})


def offered_url(base_url: str, run_id: str, turn: int, agent: str) -> str:
    """Where a call waiting in a hold queue is redirected to ring ``agent``: its run's
    ``<Enqueue>`` action, naming the agent."""
    return f"{resume_prefix(base_url, run_id, turn)}/queue?{urlencode({'agent': agent})}"


class CallGone(Exception):
    """The call to redirect is over."""


@dataclass(frozen=True, slots=True)
class CallState:
    """What Twilio's Calls API says of a call now."""

    status: str
    """Twilio's status (``in-progress``, ``completed``, ``no-answer``...)."""
    duration: int | None
    """Seconds, once the call is over."""
    ended_at: datetime | None
    """When it ended, once it is over (aware)."""


class TwilioCalls:
    """Redirects live calls and reads calls through Twilio's Calls API (or a
    Twilio-compatible one). A session per request: they are rare (one per queued caller, one
    per call whose final status was lost), and nothing is left to close."""

    def __init__(
        self, account_sid: str, auth_token: str, *, api_base_url: str | None, timeout: float = 10
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_base_url = api_base_url
        self._timeout = timeout

    async def redirect(self, call_sid: str, url: str) -> None:
        """Make the live call ``call_sid`` fetch its TwiML from ``url`` now."""
        async with self._client() as client:
            await client.calls(call_sid).update_async(url=url, method="POST")

    async def fetch(self, call_sid: str, account_sid: str | None = None) -> CallState:
        """The call ``call_sid`` as Twilio sees it now; ``account_sid``: the (sub)account the
        call belongs to, when it is not the configured one. ``CallGone`` when Twilio does not
        know it."""
        async with self._client() as client:
            account = client.api.v2010.accounts(account_sid or self._account_sid)
            found = await account.calls(call_sid).fetch_async()
        duration = str(found.duration or "").strip()
        return CallState(
            status=str(found.status or "").strip().lower(),
            duration=int(duration) if duration.isdigit() else None,
            ended_at=found.end_time,
        )

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Client]:
        """A REST client on its own HTTP session; the API's failures as job errors (see the
        module docstring): ``CallGone``, ``TransientJobError`` or ``PermanentJobError``."""
        http = RestHttpClient(timeout=self._timeout)
        client = Client(self._account_sid, self._auth_token, http_client=http)
        if self._api_base_url is not None:
            client.api.base_url = self._api_base_url.rstrip("/")
            client.edge = None
            client.region = None
        try:
            yield client
        except TwilioRestException as error:
            if error.status == 404 or error.code in CALL_GONE_CODES:
                raise CallGone(str(error.msg)) from error
            if int(error.status) >= 500 or int(error.status) == 429:
                raise TransientJobError(f"Calls API {error.status}: {error.msg}") from error
            raise PermanentJobError(f"Calls API refused: {error.status} {error.code}") from error
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise TransientJobError(f"Calls API unreachable: {error!r}") from error
        finally:
            await http.close()


class OfferHandler:
    """Runs ``call.offer`` jobs (see the module docstring)."""

    def __init__(
        self, db: Database, calls: TwilioCalls | None, public_url: str | None, clock: Clock
    ) -> None:
        self._db = db
        self._calls = calls
        self._public_url = public_url
        self._clock = clock

    async def __call__(self, job: ClaimedJob) -> FinalWrite | None:
        payload = job.payload
        entry, agent, call = int(payload["entry"]), str(payload["agent"]), str(payload["call"])
        if not await self._db.read(lambda conn: open_offer(conn, entry, agent)):
            log.info("call %s: offer to %s no longer open", call, agent)
            return None
        if self._calls is None or not self._public_url:
            log.error("call %s: queued callers need a Twilio account and a public URL", call)
            return lambda conn: offer_failed(conn, entry)
        url = offered_url(self._public_url, str(payload["run_id"]), int(payload["turn"]), agent)
        try:
            await self._calls.redirect(call, url)
        except CallGone:
            log.info("call %s: gone before it could be connected to %s", call, agent)
            now = self._clock()
            return lambda conn: offer_lost(conn, entry, now)
        except PermanentJobError as error:
            # Refused for good: the caller keeps waiting in their place, the agent is free.
            log.error("call %s: could not be connected to %s: %s", call, agent, error)
            return lambda conn: offer_failed(conn, entry)
        log.info("call %s: redirected to ring agent %s", call, agent)
        return None


def twilio_calls(settings: Settings) -> TwilioCalls | None:
    """The Calls API of the configured Twilio account (None without one)."""
    sid, token = settings.twilio_account_sid, settings.auth_token
    if not (sid and token):
        return None
    return TwilioCalls(sid, token, api_base_url=settings.twilio_api_base_url)
