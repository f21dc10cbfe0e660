"""Admin API for the call log: recent calls (by outcome, since a moment) and one call with the
path it took through its workflow, the keys pressed, its outcome and duration, and the audio
of its recordings.

Calls are read-only here: they are written by the voice webhooks (:mod:`ivr.service`).
A recording's audio is Twilio's, behind the account's credentials: it is fetched and streamed
on by :class:`ivr.recordings.RecordingFetcher` (503 without a Twilio account, 502 when Twilio
refuses or cannot be reached, 404 when it no longer has it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from ivr.calllog import CallLogEntry, CallRecording, call_by_sid, find_calls
from ivr.recordings import (
    NotOurRecording,
    RecordingFetcher,
    RecordingGone,
    RecordingUnavailable,
)
from ringflow.admin.endpoints import Api, Endpoint, json_answer, query_params
from ringflow.admin.problems import ApiProblem, not_found
from ringflow.database import Database
from workflows.test_calls import is_test_call
from workflows.triggers import CALL_OUTCOMES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallAdmin:
    """What the call endpoints need: the database, and the fetcher of recordings (None
    without a Twilio account)."""

    db: Database
    recordings: RecordingFetcher | None = None


CALL_ADMIN = web.AppKey("call_admin", CallAdmin)


def _known_outcome(value: str) -> str:
    if value not in CALL_OUTCOMES:
        raise ValueError(f"must be one of {', '.join(CALL_OUTCOMES)}")
    return value


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a time without an offset is taken as UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Outcome = Annotated[
    str,
    AfterValidator(_known_outcome),
    WithJsonSchema({"type": "string", "enum": list(CALL_OUTCOMES)}),
]
UtcTime = Annotated[datetime, AfterValidator(_in_utc)]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


def recording_path(sid: str, number: int) -> str:
    """The API path of recording ``number`` (from 1) of call ``sid``."""
    return f"/api/calls/{quote(sid, safe='')}/recordings/{number}"


class RecordingOut(Out):
    duration: int | None = Field(description="seconds, as Twilio counted them")
    audio: str | None = Field(
        description=(
            "the path of its MP3 (GET /api/calls/{sid}/recordings/{n}); null for a test"
            " call's, which has no audio"
        )
    )

    @classmethod
    def of(cls, sid: str, number: int, recording: CallRecording) -> RecordingOut:
        audio = None if is_test_call(sid) else recording_path(sid, number)
        return cls(duration=recording.duration, audio=audio)


class CallOut(Out):
    sid: str = Field(description="Twilio's CallSid")
    caller: str = Field(description="From")
    called: str = Field(description="To")
    workflow_id: str | None
    run_id: str | None
    path: list[str] = Field(description="the steps the call went through, in order")
    keys: list[str] = Field(description="the keys pressed, in order")
    status: str = Field(description="Twilio's latest CallStatus")
    outcome: str | None = Field(description="decided once the call ended; null before")
    duration: int | None = Field(description="seconds, from the final status")
    started_at: datetime
    ended_at: datetime | None
    agent: str | None = Field(
        default=None, description="who took the call: the agent a connect step reached"
    )
    test: bool = Field(
        default=False, description="a test call placed from the console (it texted no one)"
    )
    recordings: list[RecordingOut] = Field(
        default_factory=list, description="what its record steps kept, in order"
    )

    @classmethod
    def of(cls, entry: CallLogEntry) -> CallOut:
        return cls(
            sid=entry.sid,
            caller=entry.caller,
            called=entry.called,
            workflow_id=entry.workflow_id,
            run_id=entry.run_id,
            path=list(entry.path),
            keys=list(entry.keys),
            status=entry.status,
            outcome=entry.outcome,
            duration=entry.duration,
            started_at=entry.started_at,
            ended_at=entry.ended_at,
            agent=entry.agent,
            test=is_test_call(entry.sid),
            recordings=[
                RecordingOut.of(entry.sid, number, recording)
                for number, recording in enumerate(entry.recordings, start=1)
            ],
        )


class CallQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=50, ge=1, le=500)
    outcome: Outcome | None = Field(default=None, description="only calls that ended so")
    since: UtcTime | None = Field(
        default=None, description="only calls started at or after this time (ISO 8601)"
    )


def _admin(request: web.Request) -> CallAdmin:
    return request.config_dict[CALL_ADMIN]


# --- handlers --------------------------------------------------------------------------


async def list_calls(request: web.Request) -> web.Response:
    admin = _admin(request)
    options = query_params(request, CallQuery)
    found = await admin.db.read(
        lambda conn: find_calls(
            conn, limit=options.limit, outcome=options.outcome, since=options.since
        )
    )
    return json_answer([CallOut.of(entry) for entry in found])


async def get_call(request: web.Request) -> web.Response:
    admin = _admin(request)
    sid = request.match_info["sid"]
    entry = await admin.db.read(lambda conn: call_by_sid(conn, sid))
    if entry is None:
        raise not_found(f"call {sid[:64]!r}")
    return json_answer(CallOut.of(entry))


def _recording_number(raw: str) -> int | None:
    """The recording number in the path (1, 2...), or None for what cannot be one."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 6 and int(raw) >= 1:
        return int(raw)
    return None


async def get_call_recording(request: web.Request) -> web.StreamResponse:
    """The MP3 of a call's recording, streamed from Twilio (problems as the module says)."""
    admin = _admin(request)
    sid, raw = request.match_info["sid"], request.match_info["n"]
    entry = await admin.db.read(lambda conn: call_by_sid(conn, sid))
    if entry is None:
        raise not_found(f"call {sid[:64]!r}")
    number = _recording_number(raw)
    if number is None or number > len(entry.recordings):
        kept = len(entry.recordings)
        raise ApiProblem(404, f"call {sid} has no recording {raw[:20]!r} (it has {kept})")
    what = f"recording {number} of call {sid}"
    if is_test_call(sid):
        raise ApiProblem(404, f"{what} has no audio: a test call records nothing")
    if admin.recordings is None:
        raise ApiProblem(
            503,
            f"{what} is kept by Twilio: playing it needs the server's Twilio account"
            " (set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)",
        )
    try:
        return await admin.recordings.respond(request, entry.recordings[number - 1].url)
    except NotOurRecording as error:
        # Stored from a webhook form: a forged or foreign URL is worth an admin's look.
        log.warning("%s was not fetched: %s", what, error.reason)
        raise ApiProblem(404, f"{what} cannot be played: {error.reason} (not fetched)") from None
    except RecordingGone as error:
        raise ApiProblem(404, f"{what} is gone: {error.reason}") from None
    except RecordingUnavailable as error:
        raise ApiProblem(502, f"{what} cannot be played now: {error.reason}") from None


# --- the endpoints ---------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    """The call log endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "calls"
    return [
        Endpoint(
            "GET",
            "/calls",
            list_calls,
            "Recent calls, newest first (by outcome, since a time)",
            tag,
            answer=list[CallOut],
            errors=(422,),
            query=CallQuery,
        ),
        Endpoint(
            "GET",
            "/calls/{sid}",
            get_call,
            "A call: its workflow, the steps it went through, keys, outcome, duration, times",
            tag,
            answer=CallOut,
            errors=(404,),
        ),
        Endpoint(
            "GET",
            "/calls/{sid}/recordings/{n}",
            get_call_recording,
            "The audio (MP3) of a call's recording n (from 1), fetched from Twilio",
            tag,
            answer_media={"audio/mpeg": {"type": "string", "format": "binary"}},
            errors=(404, 502, 503),
            description=(
                "404 for no such call or recording, a test call's recording (no audio), or one"
                " Twilio no longer has; 503 without TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN;"
                " 502 when Twilio refuses or cannot be reached. A player's `Range: bytes=...`"
                " (one range) is passed on to Twilio: 206 with `Content-Range` for that part,"
                " 416 past the end."
            ),
        ),
    ]


def register(api: Api) -> None:
    """Add the call log endpoints to ``api``."""
    api.add(*endpoints())
