"""The ``workflow.http_request`` job: make an ``http_request`` step's request through the
outbound guard and resume its run with the answer (see :mod:`workflows.steps.http_request`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from yarl import URL

from ringflow.outbound import OutboundClient, OutboundError, OutboundRefused
from workflows.events import HttpAnswered
from workflows.jobs import ClaimedJob, PermanentJobError
from workflows.sessions import ConversationChannel, SessionService
from workflows.sessions.fetches import HTTP_REQUEST_JOB

__all__ = ["HTTP_REQUEST_JOB", "HttpRequestHandler"]

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 256 * 1024


class HttpRequestHandler:
    """Makes the request, then wakes the run (on the channel it runs on) with the answer.

    A request that fails (refused, timed out, not 2xx) is not retried: the run takes its
    ``on_error`` way. Only resuming the run (the database) is retried with the job."""

    def __init__(
        self,
        sessions: SessionService,
        client: OutboundClient,
        channels: Mapping[str, ConversationChannel[Any]],
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._channels = channels

    async def __call__(self, job: ClaimedJob) -> None:
        payload = job.payload
        run_id, request = payload.get("run_id"), payload.get("request")
        channel = self._channels.get(str(payload.get("channel")))
        if not isinstance(run_id, str) or not isinstance(request, dict) or channel is None:
            raise PermanentJobError("payload needs run_id, request and a known channel")
        answer = await self._fetch(run_id, request)
        await self._sessions.wake(run_id, payload.get("turn"), answer, channel)

    async def _fetch(self, run_id: str, request: Mapping[str, Any]) -> HttpAnswered:
        body = request.get("body")
        headers = {str(k): str(v) for k, v in dict(request.get("headers") or {}).items()}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Accept", "application/json")
        method, url = str(request.get("method", "GET")), str(request.get("url", ""))
        try:
            answer = await self._client.send(
                method,
                url,
                headers=headers,
                body=data,
                timeout=float(request.get("timeout", 10)),
                max_bytes=MAX_ANSWER_BYTES,
            )
        except OutboundRefused as error:
            log.warning("run %s: http_request to %s refused: %s", run_id, _host(url), error)
            return HttpAnswered(error=f"refused: {error}")
        except OutboundError as error:
            log.warning("run %s: http_request to %s failed: %s", run_id, _host(url), error)
            return HttpAnswered(error=str(error))
        log.info("run %s: http_request to %s answered %d", run_id, _host(url), answer.status)
        if not answer.body.strip():
            return HttpAnswered(status=answer.status)
        try:
            document = json.loads(answer.body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return HttpAnswered(status=answer.status, bad_json=True)
        return HttpAnswered(status=answer.status, json=document)


def _host(url: str) -> str:
    """The URL's host, for logs (its path and query may carry personal data or keys)."""
    try:
        return URL(url).host or "?"
    except (ValueError, TypeError):
        return "?"
