"""Admin API for texts: the message log and opt-outs (conversations, with their texts in
their timelines, are :mod:`ringflow.admin.conversations`).

Messages are read-only here (the webhooks and the send jobs write them).
An admin can opt a number out (source ``admin``: no automated text reaches it any more, see
:mod:`sms.optouts`) and opt it back in. Numbers in paths are E.164, the ``+`` URL-encoded
(``/opt-outs/%2B15551230000``); one that is not a phone number answers 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from sqlalchemy import Connection

from ringflow.admin.endpoints import Api, Endpoint, json_answer, query_params
from ringflow.admin.problems import ApiProblem, FieldError, not_found
from ringflow.clock import Clock
from ringflow.database import Database
from sms.db import INBOUND_STATUSES, OUTBOUND_STATUSES
from sms.history import (
    OptOutEntry,
    find_messages,
    message_by_id,
    opt_out_entry,
    recent_opt_outs,
)
from sms.messages import MessageRow
from sms.optouts import opt_in, opt_out
from sms.send_job import Waiting, waiting_texts
from workflows.phones import InvalidPhoneNumber, normalize_number

MESSAGE_STATUSES = (*OUTBOUND_STATUSES, *INBOUND_STATUSES)
MAX_ROW_ID = 2**63 - 1


@dataclass(frozen=True)
class SmsAdmin:
    """What the text endpoints need: the database and the clock."""

    db: Database
    clock: Clock


SMS_ADMIN = web.AppKey("sms_admin", SmsAdmin)


def _known_status(value: str) -> str:
    if value not in MESSAGE_STATUSES:
        raise ValueError(f"must be one of {', '.join(MESSAGE_STATUSES)}")
    return value


MessageStatus = Annotated[
    str,
    AfterValidator(_known_status),
    WithJsonSchema({"type": "string", "enum": list(MESSAGE_STATUSES)}),
]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageOut(Out):
    id: int
    direction: Literal["inbound", "outbound"]
    contact_number: str = Field(description="the contact's number, E.164")
    from_number: str
    to_number: str
    body: str
    encoding: str = Field(description="GSM-7 or UCS-2")
    segments: int
    status: str
    provider: str | None = Field(description="twilio or outbox, once handed over")
    provider_id: str | None = Field(description="Twilio's MessageSid")
    error_code: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    due_at: datetime | None = Field(
        default=None, description="a text waiting to be sent: when it is due (its send job)"
    )
    held: str | None = Field(
        default=None,
        description="why a waiting text was put off: the quiet hours holding it, a pause, the"
        " last failure before a retry",
    )

    @classmethod
    def of(cls, message: MessageRow, waiting: Waiting | None = None) -> MessageOut:
        return cls(
            id=message.id,
            direction="inbound" if message.direction == "inbound" else "outbound",
            contact_number=message.contact_number,
            from_number=message.from_number,
            to_number=message.to_number,
            body=message.body,
            encoding=message.encoding,
            segments=message.segments,
            status=message.status,
            provider=message.provider,
            provider_id=message.provider_id,
            error_code=message.error_code,
            error=message.error,
            created_at=message.created_at,
            updated_at=message.updated_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            due_at=None if waiting is None else waiting.due_at,
            held=None if waiting is None else waiting.reason,
        )


class OptOutOut(Out):
    number: str = Field(description="E.164")
    opted_out_at: datetime
    source: Literal["keyword", "carrier_21610", "admin"]
    keyword: str | None = Field(description="the keyword texted, if any")

    @classmethod
    def of(cls, entry: OptOutEntry) -> OptOutOut:
        return cls(
            number=entry.number,
            opted_out_at=entry.opted_out_at,
            source=entry.source,
            keyword=entry.keyword,
        )


class MessageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    direction: Literal["inbound", "outbound"] | None = None
    status: MessageStatus | None = None
    contact: str | None = Field(
        default=None, max_length=64, description="only texts with this number (E.164)"
    )
    limit: int = Field(default=50, ge=1, le=500)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=50, ge=1, le=500)


def _admin(request: web.Request) -> SmsAdmin:
    return request.config_dict[SMS_ADMIN]


def _number(raw: str, where: str) -> str:
    try:
        return normalize_number(raw)
    except InvalidPhoneNumber as error:
        raise ApiProblem(422, f"{where}: {error}", [FieldError(where, str(error))]) from None


def _row_id(request: web.Request, name: str, what: str) -> int:
    """The numeric id in the path, or a 404 (no such row can exist)."""
    raw = request.match_info[name]
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ROW_ID:
        return int(raw)
    raise not_found(f"{what} {raw[:40]!r}")


# --- handlers: messages ----------------------------------------------------------------


async def list_messages(request: web.Request) -> web.Response:
    admin = _admin(request)
    options = query_params(request, MessageQuery)
    contact = None if options.contact is None else _number(options.contact, "query.contact")
    found, waiting = await admin.db.read(
        lambda conn: _with_waiting(
            conn,
            find_messages(
                conn,
                limit=options.limit,
                direction=options.direction,
                status=options.status,
                contact=contact,
            ),
        )
    )
    return json_answer(
        [MessageOut.of(message, waiting.get(message.idempotency_key)) for message in found]
    )


async def get_message(request: web.Request) -> web.Response:
    admin = _admin(request)
    message_id = _row_id(request, "message_id", "message")
    found, waiting = await admin.db.read(
        lambda conn: _with_waiting(conn, [m for m in [message_by_id(conn, message_id)] if m])
    )
    if not found:
        raise not_found(f"message {message_id}")
    return json_answer(MessageOut.of(found[0], waiting.get(found[0].idempotency_key)))


def _with_waiting(
    conn: Connection, found: list[MessageRow]
) -> tuple[list[MessageRow], dict[str, Waiting]]:
    """The messages, and why those still queued wait (from their send jobs), by key."""
    queued = [m.idempotency_key for m in found if m.status == "queued" and m.direction != "inbound"]
    return found, waiting_texts(conn, queued)


# --- handlers: opt-outs ----------------------------------------------------------------


async def list_opt_outs(request: web.Request) -> web.Response:
    admin = _admin(request)
    options = query_params(request, ListQuery)
    found = await admin.db.read(lambda conn: recent_opt_outs(conn, options.limit))
    return json_answer([OptOutOut.of(entry) for entry in found])


async def put_opt_out(request: web.Request) -> web.Response:
    """Opt the number out (source ``admin``); 201 when it was not opted out, 200 if it was
    (then its first source and time are kept)."""
    admin = _admin(request)
    number = _number(request.match_info["number"], "path.number")
    now = admin.clock()

    def store(conn: Connection) -> tuple[bool, OptOutEntry]:
        created = opt_out(conn, number, "admin", now=now)
        entry = opt_out_entry(conn, number)
        assert entry is not None
        return created, entry

    created, entry = await admin.db.write(store)
    return json_answer(OptOutOut.of(entry), status=201 if created else 200)


async def delete_opt_out(request: web.Request) -> web.Response:
    admin = _admin(request)
    number = _number(request.match_info["number"], "path.number")
    if not await admin.db.write(lambda conn: opt_in(conn, number)):
        raise not_found(f"opt-out of {number}")
    return web.Response(status=204)


# --- the endpoints ---------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    """The text endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    return [
        Endpoint(
            "GET",
            "/messages",
            list_messages,
            "Recent texts, newest first (by direction, status, contact)",
            "messages",
            answer=list[MessageOut],
            errors=(422,),
            query=MessageQuery,
        ),
        Endpoint(
            "GET",
            "/messages/{message_id}",
            get_message,
            "A text, with its delivery status and error",
            "messages",
            answer=MessageOut,
            errors=(404,),
        ),
        Endpoint(
            "GET",
            "/opt-outs",
            list_opt_outs,
            "Numbers that get no automated texts, latest first",
            "opt-outs",
            answer=list[OptOutOut],
            errors=(422,),
            query=ListQuery,
        ),
        Endpoint(
            "PUT",
            "/opt-outs/{number}",
            put_opt_out,
            "Opt a number out of automated texts (source admin)",
            "opt-outs",
            also=(201,),
            answer=OptOutOut,
            description=(
                "Answers 201 when the number was not opted out, 200 when it already was (its"
                " first source and time are kept). The number is E.164, the + sent as %2B."
            ),
            errors=(422,),
        ),
        Endpoint(
            "DELETE",
            "/opt-outs/{number}",
            delete_opt_out,
            "Opt a number back in",
            "opt-outs",
            status=204,
            errors=(404, 422),
        ),
    ]


def register(api: Api) -> None:
    """Add the text endpoints to ``api``."""
    api.add(*endpoints())
