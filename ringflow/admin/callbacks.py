"""Admin API for callbacks: list the requests (by status, team, customer, in line order),
read one with its attempts, create one (as a queue's "press 1" or the ``callback`` step
does), cancel a pending one (409 once it is being placed or is over).

Admin tokens only: an agent token gets 403 on every callback endpoint (agents learn of a
callback when Ringflow calls them; the list shows customers' numbers of every team).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from ringflow.admin.context import Name, admin_of, path_id, unprocessable
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body, query_params
from ringflow.admin.problems import conflict, not_found
from workflows.callbacks.errors import NotPending, UnknownCallback
from workflows.callbacks.requests import (
    DEFAULT_ATTEMPTS,
    DEFAULT_RETRY_DELAY,
    Attempt,
    Callback,
    cancel_callback,
    find_callback,
    list_callbacks,
    request_callback,
)
from workflows.names import E164, Duration
from workflows.people.errors import UnknownTeam
from workflows.phones import InvalidPhoneNumber

Status = Literal["pending", "calling", "connected", "failed", "cancelled"]


def _in_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_in_utc)]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttemptOut(Out):
    leg: int = Field(description="the placement's number (1 for the first)")
    agent: str | None
    agent_call_sid: str | None = Field(description="the call to the agent")
    customer_call_sid: str | None = Field(description="the call to the customer")
    outcome: str | None = Field(
        description="answered, no-answer, busy, failed (the customer's attempts); "
        "agent-no-answer, agent-declined, agent-failed, opted-out, cancelled; null while "
        "in progress"
    )
    duration: int | None = Field(description="seconds the customer talked")
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            leg=attempt.leg,
            agent=attempt.agent,
            agent_call_sid=attempt.agent_call_sid,
            customer_call_sid=attempt.customer_call_sid,
            outcome=attempt.outcome,
            duration=attempt.duration,
            started_at=attempt.started_at,
            ended_at=attempt.ended_at,
        )


class CallbackOut(Out):
    id: int
    team: str
    customer: str = Field(description="the number called back (E.164)")
    from_number: str = Field(alias="from", description="the caller id the callback shows")
    call_sid: str | None = Field(description="the call the request came from")
    requested_at: datetime = Field(description="the place in line")
    status: Status
    reason: str | None = Field(description="why it failed or was cancelled")
    attempts: int = Field(description="the customer's attempts so far")
    max_attempts: int
    retry_delay: int = Field(description="seconds between the customer's attempts")
    due_at: datetime = Field(description="not placed before this")
    agent: str | None = Field(description="the agent of the current or last placement")
    updated_at: datetime
    history: list[AttemptOut] = Field(description="every placement (only in GET of one)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @classmethod
    def of(cls, callback: Callback) -> CallbackOut:
        return cls(
            id=callback.id,
            team=callback.team,
            customer=callback.customer,
            from_number=callback.our_number,
            call_sid=callback.call_sid,
            requested_at=callback.requested_at,
            status=callback.status,
            reason=callback.reason,
            attempts=callback.attempts,
            max_attempts=callback.max_attempts,
            retry_delay=callback.retry_delay,
            due_at=callback.due_at,
            agent=callback.agent,
            updated_at=callback.updated_at,
            history=[AttemptOut.of(a) for a in callback.history],
        )


def _answer(value: CallbackOut | list[CallbackOut], status: int = 200) -> web.Response:
    if isinstance(value, list):
        return json_answer([item.model_dump(mode="json", by_alias=True) for item in value])
    return json_answer(value.model_dump(mode="json", by_alias=True), status=status)


class CallbackQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status | None = Field(default=None, description="only requests in this status")
    team: Name | None = Field(default=None, description="only this team's requests")
    customer: E164 | None = Field(default=None, description="only requests for this number")
    limit: int = Field(default=100, ge=1, le=1000)


class CallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    team: Name = Field(description="the team whose agents call back")
    customer: E164 = Field(description="the number to call back")
    from_number: E164 = Field(
        alias="from", description="the caller id the callback shows (one of your numbers)"
    )
    attempts: int = Field(default=DEFAULT_ATTEMPTS, ge=1, le=10)
    retry_delay: Duration = Field(
        default=int(DEFAULT_RETRY_DELAY.total_seconds()),
        description="between the customer's attempts: 30s to 1d",
    )
    requested_at: UtcTime | None = Field(
        default=None, description="the place in line (default: now; ISO 8601)"
    )


async def list_all_callbacks(request: web.Request) -> web.Response:
    options = query_params(request, CallbackQuery)
    found = await admin_of(request).db.read(
        lambda conn: list_callbacks(
            conn,
            status=[options.status] if options.status else [],
            team=options.team,
            customer=options.customer,
            limit=options.limit,
        )
    )
    return _answer([CallbackOut.of(item) for item in found])


async def get_callback(request: web.Request) -> web.Response:
    callback_id = path_id(request, "callback_id", "callback")
    found = await admin_of(request).db.read(lambda conn: find_callback(conn, callback_id))
    if found is None:
        raise not_found(f"callback {callback_id}")
    return _answer(CallbackOut.of(found))


async def create_callback(request: web.Request) -> web.Response:
    admin = admin_of(request)
    body = await json_body(request, CallbackIn)
    if not 30 <= body.retry_delay <= 86400:
        raise unprocessable("body.retry_delay", "must be between 30s and 1d")
    now = admin.clock()

    def work(conn: Connection) -> Callback:
        return request_callback(
            conn,
            team=body.team,
            customer=body.customer,
            our_number=body.from_number,
            requested_at=body.requested_at,
            attempts=body.attempts,
            retry_delay=timedelta(seconds=body.retry_delay),
            now=now,
        )

    try:
        created = await admin.db.write(work)
    except UnknownTeam:
        raise unprocessable("body.team", f"no team named {body.team!r}") from None
    except InvalidPhoneNumber as error:
        raise unprocessable("body.customer", str(error)) from None
    return _answer(CallbackOut.of(created), status=201)


async def cancel_one_callback(request: web.Request) -> web.Response:
    admin = admin_of(request)
    callback_id = path_id(request, "callback_id", "callback")
    now = admin.clock()
    try:
        cancelled = await admin.db.write(lambda conn: cancel_callback(conn, callback_id, now))
    except UnknownCallback:
        raise not_found(f"callback {callback_id}") from None
    except NotPending as error:
        raise conflict(
            f"callback {callback_id} is {error.status}: only a pending one can be cancelled"
        ) from None
    return _answer(CallbackOut.of(cancelled))


def endpoints() -> list[Endpoint]:
    """The callback endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "callbacks"
    one = "/callbacks/{callback_id}"
    return [
        Endpoint(
            "GET",
            "/callbacks",
            list_all_callbacks,
            "Callback requests in line order (oldest request first)",
            tag,
            answer=list[CallbackOut],
            errors=(422,),
            query=CallbackQuery,
        ),
        Endpoint(
            "POST",
            "/callbacks",
            create_callback,
            "Ask a team to call a number back",
            tag,
            body=Body(model=CallbackIn, description="Who calls back whom, from which number."),
            answer=CallbackOut,
            status=201,
            errors=(400, 422),
            description="The request waits in the team's line like one made by a caller; "
            "it is placed during the team's business hours when one of its agents is free.",
        ),
        Endpoint(
            "GET",
            one,
            get_callback,
            "A callback request with every attempt",
            tag,
            answer=CallbackOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            one + "/cancel",
            cancel_one_callback,
            "Cancel a pending callback request",
            tag,
            answer=CallbackOut,
            errors=(404, 409),
            description="Only a pending request can be cancelled: one being placed or over "
            "answers 409 and is left as it is.",
        ),
    ]


def register(api: Api) -> None:
    """Add the callback endpoints to ``api``."""
    api.add(*endpoints())
