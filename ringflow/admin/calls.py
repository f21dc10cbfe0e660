"""Admin API for the call log: recent calls (by outcome, since a moment) and one call with the
path it took through its workflow, the keys pressed, its outcome and duration.

Calls are read-only here: they are written by the voice webhooks (:mod:`ivr.service`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from ivr.calllog import CallLogEntry, call_by_sid, find_calls
from ringflow.admin.endpoints import Api, Endpoint, json_answer, query_params
from ringflow.admin.problems import not_found
from ringflow.database import Database
from workflows.test_calls import is_test_call
from workflows.triggers import CALL_OUTCOMES


@dataclass(frozen=True)
class CallAdmin:
    """What the call endpoints need: the database."""

    db: Database


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
    ]


def register(api: Api) -> None:
    """Add the call log endpoints to ``api``."""
    api.add(*endpoints())
