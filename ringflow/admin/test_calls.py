"""Admin API for test calls: place a call against any version or draft of a voice workflow,
read what the caller hears (with the audio to play) and the step the call is at, and answer
what it asks (keys, words, a dial's outcome, a recording), as the console's "Try it" does.
A test call waiting in a hold queue is offered to no agent: the admin names the agent who
takes it (``kind: agent``), and the call leaves the queue to ring that agent.

The call goes through this process's own voice webhooks (:mod:`ivr.test_calls`); it is
marked as a test (``CAtest...``) and reaches no one (:mod:`workflows.test_calls`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection

from ivr.calllog import CallLogEntry, call_by_sid
from ivr.offers import offered_url
from ivr.softphone import DIAL_STATUSES
from ivr.test_calls import Answer, LiveTestCall, NotAsked, TestCallPhone, TooManyTestCalls
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, FieldError, not_found
from ringflow.database import Database
from workflows.catalog import WorkflowCatalog
from workflows.names import E164
from workflows.people.queue import Holding, holding, offer_test_call
from workflows.steps.base import VOICE
from workflows.triggers import trigger_kind
from workflows.versions import NoDraft, UnknownPublication, UnknownWorkflow, stored_version_id

DEFAULT_CALLER = "+15005550006"
"""Who a test call is from unless the admin says (Twilio's test number: texts none)."""
DEFAULT_CALLED = "+15005550001"
"""The number a test call is to when the workflow names none."""


@dataclass(frozen=True)
class TestCallAdmin:
    """What the test call endpoints need."""

    __test__ = False  # not a pytest test class, whatever its name

    db: Database
    catalog: WorkflowCatalog
    phone: TestCallPhone


TEST_CALL_ADMIN = web.AppKey("test_call_admin", TestCallAdmin)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


VersionChoice = Annotated[str, StringConstraints(pattern=r"^(draft|published|[1-9][0-9]{0,8})$")]
"""Which version a test runs: ``draft``, ``published`` or a version number."""


class VersionIn(In):
    """The workflow a test runs, and which of its versions."""

    workflow_id: str = Field(min_length=1, max_length=200)
    version: VersionChoice = Field(
        default="published", description="draft, published or a version number"
    )


async def chosen_version_id(db: Database, body: VersionIn) -> int:
    """The stored version ``body`` names; 404 naming what is missing."""
    which = int(body.version) if body.version.isdigit() else body.version
    try:
        return await db.read(lambda conn: stored_version_id(conn, body.workflow_id, which))
    except UnknownWorkflow:
        raise not_found(f"workflow {body.workflow_id!r}") from None
    except (UnknownPublication, NoDraft) as error:
        raise ApiProblem(404, str(error)) from None


class TestCallIn(VersionIn):
    caller: E164 = Field(default=DEFAULT_CALLER, alias="from", description="the caller's number")
    called: E164 | None = Field(
        default=None,
        alias="to",
        description="the number called (default: the workflow's first, else a test number)",
    )


class AnswerIn(In):
    kind: Literal["keys", "dial", "record", "agent", "hang_up"] = Field(
        description="what is answered: the keys (or words) of a gather, a dial's outcome, a"
        " recording, the agent who takes a call waiting in a hold queue, or the caller hangs"
        " up"
    )
    agent: str = Field(
        default="", max_length=200, description="kind agent: the team member who takes the call"
    )
    keys: str = Field(
        default="", max_length=200, description="keys pressed or words said; empty: silence"
    )
    status: Literal["completed", "busy", "no-answer", "failed", "canceled"] = Field(
        default="completed", description="how the dial ended"
    )
    seconds: int = Field(default=0, ge=0, le=14_400, description="talk or recording seconds")
    ended_by: str = Field(
        default="#", max_length=10, description="what ended a recording: a key, hangup or ''"
    )


class HeardOut(BaseModel):
    text: str
    audio: str | None = Field(description="a path on this server to play, if any")


class HoldingOut(BaseModel):
    team: str = Field(description="the team whose hold queue the call waits in")
    agents: list[str] = Field(description="the team's members: who could take the call")


class TestCallOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str = Field(description="the call's id (CAtest...), also in the call log")
    workflow_id: str
    version: str
    caller: str = Field(alias="from")
    called: str = Field(alias="to")
    lines: list[HeardOut] = Field(description="what the caller heard, in order")
    question: dict[str, Any] | None = Field(
        description="what the call waits for: kind keys (speech, dtmf, num_digits), dial"
        " (targets) or record (max_seconds); null when it waits for nothing"
    )
    ended_by: str | None = Field(description="how the call ended; null while it goes on")
    path: list[str] = Field(description="the steps the call went through, in order")
    step: str | None = Field(description="the step the call is at (the last of its path)")
    holding: HoldingOut | None = Field(
        default=None,
        description="the hold queue the call waits in (answer kind agent takes it out); null"
        " when it waits in none",
    )


def _admin(request: web.Request) -> TestCallAdmin:
    return request.config_dict[TEST_CALL_ADMIN]


def own_address(request: web.Request) -> str:
    """This process's own address, as the request reached it: where the test call's
    webhooks go (not the public URL, which may lead to another instance)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple):
        raise ApiProblem(503, "test calls need the server to listen on TCP")
    host, port = str(sockname[0]), int(sockname[1])  # a connected socket: a real address
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _out(admin: TestCallAdmin, view: dict[str, Any]) -> TestCallOut:
    def read(conn: Connection) -> tuple[CallLogEntry | None, Holding | None]:
        return call_by_sid(conn, view["id"]), holding(conn, view["id"])

    entry, queue = await admin.db.read(read)
    path = list(entry.path) if entry is not None else []
    held = None
    if queue is not None and view["ended_by"] is None:
        held = {"team": queue.team, "agents": list(queue.members)}
    return TestCallOut.model_validate(
        view | {"path": path, "step": path[-1] if path else None, "holding": held}
    )


# --- handlers --------------------------------------------------------------------------


async def place_test_call(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = await json_body(request, TestCallIn)
    version_id = await chosen_version_id(admin.db, body)
    workflow = await admin.catalog.version(version_id)
    trigger = workflow.spec.trigger
    if trigger_kind(trigger.event).channel != VOICE:
        raise ApiProblem(
            422,
            f"workflow {body.workflow_id!r} starts on {trigger.event}, not on calls",
            [FieldError("body.workflow_id", "not a voice workflow")],
        )
    called = body.called or (trigger.to[0] if trigger.to else DEFAULT_CALLED)
    try:
        call = admin.phone.place(
            own_address(request),
            version_id=version_id,
            workflow_id=body.workflow_id,
            version=body.version,
            caller=body.caller,
            called=called,
        )
    except TooManyTestCalls as error:
        raise ApiProblem(429, str(error)) from None
    return json_answer(await _out(admin, call.view()), status=201)


async def get_test_call(request: web.Request) -> web.Response:
    admin = _admin(request)
    call = admin.phone.get(request.match_info["call_id"])
    if call is None:
        raise not_found(f"test call {request.match_info['call_id'][:64]!r}")
    return json_answer(await _out(admin, call.view()))


async def answer_test_call(request: web.Request) -> web.Response:
    admin = _admin(request)
    call = admin.phone.get(request.match_info["call_id"])
    if call is None:
        raise not_found(f"test call {request.match_info['call_id'][:64]!r}")
    body = await json_body(request, AnswerIn)
    try:
        if body.kind == "agent":
            await _take(request, call, body.agent)
        else:
            call.answer(Answer(body.kind, body.keys, body.status, body.seconds, body.ended_by))
    except NotAsked as error:
        raise ApiProblem(409, str(error), [FieldError("body.kind", str(error))]) from None
    return json_answer(await _out(admin, call.view()))


async def _take(request: web.Request, call: LiveTestCall, agent: str) -> None:
    """``agent`` takes ``call`` out of the hold queue it waits in."""
    queue = await _admin(request).db.write(lambda conn: offer_test_call(conn, call.id, agent))
    if queue is None:
        raise NotAsked("the call waits in no hold queue")
    if agent not in queue.members:
        message = f"{agent[:64]!r} is not a member of team {queue.team!r}"
        raise ApiProblem(422, message, [FieldError("body.agent", message)])
    call.take(offered_url(own_address(request), queue.run_id, queue.turn, agent))


# --- the endpoints ---------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    """The test call endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "test calls"
    return [
        Endpoint(
            "POST",
            "/test-calls",
            place_test_call,
            "Place a test call against a version or draft of a voice workflow",
            tag,
            body=Body(model=TestCallIn, description="The workflow, its version, the numbers."),
            answer=TestCallOut,
            status=201,
            errors=(404, 422, 429),
        ),
        Endpoint(
            "GET",
            "/test-calls/{call_id}",
            get_test_call,
            "A test call: what the caller heard, what it waits for, the step it is at",
            tag,
            answer=TestCallOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/test-calls/{call_id}/answer",
            answer_test_call,
            "Answer what the test call asks (keys, words, a dial, a recording, the agent who"
            " takes it from a hold queue) or hang up",
            tag,
            body=Body(model=AnswerIn, description="The answer, of the kind the call asks."),
            answer=TestCallOut,
            errors=(404, 409, 422),
            description=f"A dial ends one of {', '.join(sorted(DIAL_STATUSES))}.",
        ),
    ]


def register(api: Api) -> None:
    """Add the test call endpoints to ``api``."""
    api.add(*endpoints())
