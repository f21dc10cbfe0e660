"""Admin API for external events: ``POST /events``, another system reporting something about
a contact (``checkout.idle``), which starts every workflow whose trigger names it.

Admin tokens and tokens scoped ``events`` (``ringflow token create shop --scope events``) may
send events. The event is stored and its workflows' job queued in one transaction before the
answer (202); they start in the job worker, on the conversation channel the event names (texts
today). An ``Idempotency-Key`` header (or the ``idempotency_key`` field) makes a retry of the
same event answer with the first one, starting nothing twice; the same key with different
content is a 409. A body over :data:`MAX_EVENT_BYTES` is a 413.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ringflow.admin.auth import TOKEN_OWNER
from ringflow.admin.context import unprocessable
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, conflict
from ringflow.database import Database
from workflows.catalog import WorkflowCatalog
from workflows.external import Accepted, IdempotencyConflict, Incoming, accept
from workflows.names import E164_NUMBER
from workflows.phones import InvalidPhoneNumber, normalize_number
from workflows.triggers import EXTERNAL_EVENT_NAME, is_external

MAX_EVENT_BYTES = 32 * 1024
"""The largest event body taken (JSON, in bytes)."""
IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"


@dataclass(frozen=True)
class EventAdmin:
    """The events endpoint's dependencies: the database, the time, the catalog (which
    workflows listen) and the conversation channels an event may start a run on."""

    db: Database
    clock: Callable[[], datetime]
    catalog: WorkflowCatalog
    channels: Collection[str]


EVENT_ADMIN = web.AppKey("event_admin", EventAdmin)


class EventContact(BaseModel):
    """Who the event is about: a phone number (E.164) reaches them by text; ``email`` and
    ``name`` are kept with the event."""

    model_config = ConfigDict(extra="forbid")
    phone: Annotated[str, StringConstraints(min_length=3, max_length=32)] = Field(
        description="the contact's phone number, E.164 (e.g. +14155550123)"
    )
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None
    ) = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None


class EventIn(BaseModel):
    """An event another system reports."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(pattern=EXTERNAL_EVENT_NAME)] = Field(
        description=(
            "the event, two to four dotted lower-case parts (e.g. checkout.idle); workflows"
            " whose trigger is `event: <name>` start"
        )
    )
    contact: EventContact
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="what the workflows read as {{event.data.*}} and the `data` filter",
    )
    line: Annotated[str, StringConstraints(pattern=E164_NUMBER)] | None = Field(
        default=None,
        description=(
            "the business number to answer from; default: the first number each workflow's"
            " trigger names (`to`)"
        ),
    )
    channel: Annotated[str, StringConstraints(pattern=r"^[a-z]{1,16}$")] = Field(
        default="sms", description="the conversation channel the workflows run on"
    )
    idempotency_key: Annotated[str, StringConstraints(pattern=KEY_PATTERN)] | None = Field(
        default=None,
        description=f"the same as the {IDEMPOTENCY_HEADER} header: a retry starts nothing twice",
    )

    @field_validator("name")
    @classmethod
    def _external(cls, value: str) -> str:
        if not is_external(value):
            raise ValueError(
                f"{value!r} is one of Ringflow's own events or namespaces, not an external event"
            )
        return value


class EventOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    name: str
    received_at: datetime
    duplicate: bool = Field(description="a retry of an event accepted before: nothing new starts")
    workflows: list[str] = Field(description="the active workflows listening to this event now")


async def post_event(request: web.Request) -> web.Response:
    """Accept an event (202), or answer a retry with the first one (200)."""
    admin = request.config_dict[EVENT_ADMIN]
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        raise ApiProblem(413, f"an event is at most {MAX_EVENT_BYTES} bytes of JSON")
    body = await json_body(request, EventIn)
    if len(await request.read()) > MAX_EVENT_BYTES:
        raise ApiProblem(413, f"an event is at most {MAX_EVENT_BYTES} bytes of JSON")
    key = _idempotency_key(request, body)
    try:
        number = normalize_number(body.contact.phone)
    except InvalidPhoneNumber as error:
        raise unprocessable("body.contact.phone", str(error)) from None
    if body.channel not in admin.channels:
        known = ", ".join(sorted(admin.channels))
        raise unprocessable("body.channel", f"no conversation channel {body.channel!r} ({known})")
    incoming = Incoming(
        name=body.name,
        contact_number=number,
        contact=body.contact.model_dump(exclude_none=True),
        channel=body.channel,
        data=body.data,
        line=body.line,
        idempotency_key=key,
        source=request.get(TOKEN_OWNER, ""),
    )
    now = admin.clock()
    try:
        accepted: Accepted = await admin.db.write(lambda conn: accept(conn, incoming, now))
    except IdempotencyConflict as error:
        raise conflict(str(error)) from None
    listening = [active.workflow.id for active in admin.catalog.listening(body.name)]
    answer = EventOut(
        id=accepted.id,
        name=body.name,
        received_at=accepted.received_at,
        duplicate=accepted.duplicate,
        workflows=listening,
    )
    return json_answer(answer, status=200 if accepted.duplicate else 202)


def _idempotency_key(request: web.Request, body: EventIn) -> str | None:
    header = request.headers.get(IDEMPOTENCY_HEADER)
    if header is None:
        return body.idempotency_key
    if not re.match(KEY_PATTERN, header):
        raise ApiProblem(
            400, f"the {IDEMPOTENCY_HEADER} header is 1 to 200 printable ASCII characters"
        )
    if body.idempotency_key is not None and body.idempotency_key != header:
        raise unprocessable("body.idempotency_key", f"differs from the {IDEMPOTENCY_HEADER} header")
    return header


def endpoints() -> list[Endpoint]:
    """The events endpoint, for :class:`ringflow.admin.endpoints.Api`."""
    example = {
        "name": "checkout.idle",
        "contact": {"phone": "+14155550123"},
        "data": {"cart_url": "https://shop.example/cart/42"},
    }
    return [
        Endpoint(
            "POST",
            "/events",
            post_event,
            "Report an event (e.g. checkout.idle): starts the workflows it triggers",
            "events",
            body=Body(
                model=EventIn,
                description="The event: " + json.dumps(example),
            ),
            answer=EventOut,
            status=202,
            also=(200,),
            errors=(400, 409, 413, 415, 422),
            description=(
                "Answers 202 when the event is accepted (its workflows start in the job"
                " worker), 200 when it repeats an idempotency key already accepted with the"
                f" same content (nothing starts again). Send an {IDEMPOTENCY_HEADER} header to"
                " make retries safe."
            ),
            scopes=("events",),
        )
    ]


def register(api: Api) -> None:
    """Add the events endpoint to ``api``."""
    api.add(*endpoints())
