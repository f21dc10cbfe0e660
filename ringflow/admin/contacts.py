"""Admin API for contacts: list and search them, read one, create or update one's name and
attributes, and merge attribute changes (see :mod:`workflows.contacts`).

A contact is addressed by its number in E.164 in the path, the ``+`` URL-encoded
(``/contacts/%2B15551230000``); a path that is not a phone number answers 422. Attributes are
a flat map of scalars (text, numbers, true/false): anything else is a 422 naming the
attribute. JSON bodies are at most 64 KiB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    WithJsonSchema,
    model_validator,
)

from ringflow.admin.endpoints import (
    Api,
    Body,
    Endpoint,
    json_answer,
    json_body,
    query_params,
)
from ringflow.admin.problems import ApiProblem, FieldError, not_found
from ringflow.database import Database, stored_time
from workflows.contacts import (
    ContactRow,
    UnknownContact,
    change_attributes,
    find_contacts,
    get_contact,
    replace_contact,
)
from workflows.phones import InvalidPhoneNumber, normalize_number

MAX_ATTRIBUTES = 100
SCALAR_RULE = "must be text, a number, true or false"


@dataclass(frozen=True)
class ContactAdmin:
    """What the contact endpoints need: the database and the time."""

    db: Database
    clock: Callable[[], datetime]


CONTACT_ADMIN = web.AppKey("contact_admin", ContactAdmin)


def clean_text(value: str) -> str:
    """``value`` if the database can store it: UTF-8, no NUL characters."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _scalar(value: Any, nullable: bool) -> Any:
    if value is None and nullable:
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if isinstance(value, bool | int | float):
        return value
    raise ValueError(SCALAR_RULE + (", or null to remove it" if nullable else ""))


_SCALAR_TYPES = ["string", "number", "boolean"]
Scalar = Annotated[
    Any,
    PlainValidator(lambda value: _scalar(value, nullable=False)),
    WithJsonSchema({"type": _SCALAR_TYPES}),
]
"""An attribute value: text, a number, true or false."""
ScalarOrNull = Annotated[
    Any,
    PlainValidator(lambda value: _scalar(value, nullable=True)),
    WithJsonSchema({"type": [*_SCALAR_TYPES, "null"]}),
]
"""An attribute change: a new value, or null to remove the attribute."""
AttributeName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(clean_text)]
StoredScalar = str | int | float | bool | None


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactOut(Out):
    id: int
    number: str = Field(description="E.164")
    name: str | None
    attributes: dict[str, StoredScalar]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ContactRow) -> ContactOut:
        return cls(
            id=row.id,
            number=row.number,
            name=row.name,
            attributes=row.attributes,
            created_at=stored_time(row.created_at),
            updated_at=stored_time(row.updated_at),
        )


class ContactIn(BaseModel):
    """A contact's name and all of its attributes (those not sent are removed)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=255), AfterValidator(clean_text)] | None = None
    attributes: dict[AttributeName, Scalar] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)


class AttributesPatchIn(RootModel[dict[AttributeName, ScalarOrNull]]):
    """Attribute changes merged into the contact's: a value sets it, null removes it."""

    root: dict[AttributeName, ScalarOrNull] = Field(max_length=MAX_ATTRIBUTES)


class ContactQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str | None = Field(default=None, max_length=64, description="exactly this number")
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="numbers or names starting with this (names in any case)",
    )
    limit: int = Field(default=50, ge=1, le=500)

    @model_validator(mode="after")
    def _one_filter(self) -> ContactQuery:
        if self.number is not None and self.q is not None:
            raise ValueError("give number or q, not both")
        return self


def _admin(request: web.Request) -> ContactAdmin:
    return request.config_dict[CONTACT_ADMIN]


def phone_number(raw: str, where: str) -> str:
    """``raw`` in E.164, or a 422 problem naming ``where`` (``path.number``)."""
    try:
        return normalize_number(raw)
    except InvalidPhoneNumber as error:
        raise ApiProblem(422, f"{where}: {error}", [FieldError(where, str(error))]) from None


def _path_number(request: web.Request) -> str:
    return phone_number(request.match_info["number"], "path.number")


# --- handlers --------------------------------------------------------------------------


async def list_contacts(request: web.Request) -> web.Response:
    admin = _admin(request)
    options = query_params(request, ContactQuery)
    number = None if options.number is None else phone_number(options.number, "query.number")
    found = await admin.db.read(
        lambda conn: find_contacts(
            conn, limit=options.limit, number=number, starting_with=options.q
        )
    )
    return json_answer([ContactOut.of(contact) for contact in found])


async def get_contact_by_number(request: web.Request) -> web.Response:
    admin = _admin(request)
    number = _path_number(request)
    found = await admin.db.read(lambda conn: get_contact(conn, number))
    if found is None:
        raise not_found(f"contact {number}")
    return json_answer(ContactOut.of(found))


async def put_contact(request: web.Request) -> web.Response:
    """Create the contact or replace its name and attributes; 201 when it is new."""
    admin = _admin(request)
    number = _path_number(request)
    body = await json_body(request, ContactIn)
    now = admin.clock()

    created, contact = await admin.db.write(
        lambda conn: replace_contact(conn, number, body.name, body.attributes, now=now)
    )
    return json_answer(ContactOut.of(contact), status=201 if created else 200)


async def patch_contact_attributes(request: web.Request) -> web.Response:
    admin = _admin(request)
    number = _path_number(request)
    body = await json_body(request, AttributesPatchIn)
    now = admin.clock()

    try:
        contact = await admin.db.write(
            lambda conn: change_attributes(conn, number, body.root, now=now)
        )
    except UnknownContact:
        raise not_found(f"contact {number}") from None
    return json_answer(ContactOut.of(contact))


# --- the endpoints ---------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    """The contact endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "contacts"
    one = "/contacts/{number}"
    return [
        Endpoint(
            "GET",
            "/contacts",
            list_contacts,
            "List contacts, newest first: one number, or a search by number or name prefix",
            tag,
            answer=list[ContactOut],
            errors=(422,),
            query=ContactQuery,
        ),
        Endpoint(
            "GET",
            one,
            get_contact_by_number,
            "A contact by its number (E.164, the + URL-encoded as %2B)",
            tag,
            answer=ContactOut,
            errors=(404, 422),
        ),
        Endpoint(
            "PUT",
            one,
            put_contact,
            "Create a contact or replace its name and attributes",
            tag,
            body=Body(model=ContactIn, description="The name and every attribute; 64 KiB at most."),
            also=(201,),
            answer=ContactOut,
            description=(
                "Answers 201 with the contact when it was created, 200 when it existed. Attributes"
                " not sent are removed; to change some only, PATCH its attributes."
            ),
            errors=(400, 422),
        ),
        Endpoint(
            "PATCH",
            one + "/attributes",
            patch_contact_attributes,
            "Merge attribute changes into a contact's (null removes one)",
            tag,
            body=Body(model=AttributesPatchIn, description="Attribute changes; 64 KiB at most."),
            answer=ContactOut,
            errors=(400, 404, 422),
        ),
    ]


def register(api: Api) -> None:
    """Add the contact endpoints to ``api``."""
    api.add(*endpoints())
