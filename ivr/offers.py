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
"""

from __future__ import annotations

import logging
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


class TwilioCalls:
    """Redirects live calls through Twilio's Calls API (or a Twilio-compatible one)."""

    def __init__(
        self, account_sid: str, auth_token: str, *, api_base_url: str | None, timeout: float = 10
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_base_url = api_base_url
        self._timeout = timeout

    async def redirect(self, call_sid: str, url: str) -> None:
        """Make the live call ``call_sid`` fetch its TwiML from ``url`` now. (A session per
        redirect: they are rare, one per queued caller, and nothing is left to close.)"""
        http = RestHttpClient(timeout=self._timeout)
        client = Client(self._account_sid, self._auth_token, http_client=http)
        if self._api_base_url is not None:
            client.api.base_url = self._api_base_url.rstrip("/")
            client.edge = None
            client.region = None
        try:
            await client.calls(call_sid).update_async(url=url, method="POST")
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
