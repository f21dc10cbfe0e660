"""The message log: record outbound texts, mark them sent, apply delivery callbacks.

Plain functions of a SQLAlchemy ``Connection`` (run them through ``Database.write``), except
:func:`recent_messages`, which reads through the ``Database`` itself for ``ringflow messages``.

Outbound statuses move forward::

    queued < sending < sent < delivered | undelivered | failed

``sending`` is written by the send job, in a write of its own, just before each call to the
provider (:func:`mark_sending`, which counts the attempt and refuses an opted-out recipient);
a message found ``sending`` later is one whose last call had an unclear outcome (a timeout, a
lost connection, a worker that died), to be looked up at the provider before it is sent
again. The one step back is :func:`mark_not_sent` (``sending`` to ``queued``), for a call that
surely created nothing (refused before anything was made, or never connected).

Otherwise a status a message already passed, the one it has, or anything after a final one changes
nothing (``UPDATE ... WHERE status IN (earlier statuses)``), so repeated and out-of-order
callbacks are harmless. Twilio's other MessageStatus values are mapped by
:func:`outbound_status`:

* ``accepted`` and ``scheduled`` (a Messaging Service took it, or will send it later) count
  as ``queued``;
* ``read`` (WhatsApp / RCS read receipts) counts as ``delivered``: it was;
* ``canceled`` (a scheduled message cancelled before it went out) counts as ``failed``: it will
  never be delivered;
* ``receiving`` and ``received`` belong to inbound messages and are ignored on outbound ones,
  like any value Twilio may add later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ringflow.changes import MESSAGES, announce
from ringflow.database import Database, stored_time
from sms.db import OUTBOUND_STATUSES, messages, opt_outs
from sms.segments import count_segments
from workflows.contacts import ensure_contact
from workflows.phones import normalize_number
from workflows.webhooks import publish

__all__ = [
    "FINAL_STATUSES",
    "HOUR",
    "HourlyCap",
    "MessageRow",
    "Provider",
    "SendRefusal",
    "apply_delivery_status",
    "automated_texts_since",
    "format_messages",
    "mark_failed",
    "mark_not_sent",
    "mark_sending",
    "mark_sent",
    "message_by_key",
    "outbound_status",
    "recent_messages",
    "record_inbound",
    "record_outbound",
]

log = logging.getLogger(__name__)

Provider = Literal["twilio", "outbox"]

_RANK: Final[Mapping[str, int]] = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
}
FINAL_STATUSES: Final = frozenset(s for s, rank in _RANK.items() if rank == 3)
_ALIASES: Final[Mapping[str, str]] = {
    "accepted": "queued",
    "scheduled": "queued",
    "read": "delivered",
    "canceled": "failed",
}
BODY_WIDTH = 60
HOUR: Final = timedelta(hours=1)

_NEW_MESSAGE = {
    "sqlite": sqlite.insert(messages)
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(messages.c.id),
    "postgresql": postgresql.insert(messages)
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(messages.c.id),
}

# Inbound rows conflict on their key or on their MessageSid (both derived from the MessageSid).
_INBOUND_MESSAGE = {
    "sqlite": sqlite.insert(messages).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(messages).on_conflict_do_nothing(),
}


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One message as stored."""

    id: int
    direction: str
    contact_number: str
    from_number: str
    to_number: str
    body: str
    encoding: str
    segments: int
    status: str
    provider: str | None
    provider_id: str | None
    idempotency_key: str
    error_code: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    send_attempts: int
    first_sending_at: datetime | None
    sending_at: datetime | None
    compliance: bool


_TIMES = ("created_at", "updated_at", "sent_at", "delivered_at", "first_sending_at", "sending_at")


def message_from(values: dict[str, Any]) -> MessageRow:
    """A ``MessageRow`` from a row of ``messages`` as a dict, its times aware in UTC."""
    for name in _TIMES:
        if values[name] is not None:
            values[name] = stored_time(values[name])  # SQLite gives naive UTC back
    return MessageRow(**values)


def _message(row: Row[Any]) -> MessageRow:
    return message_from(row._asdict())


def outbound_status(raw: str) -> str | None:
    """Twilio's MessageStatus as one of the outbound statuses, or None to ignore it."""
    status = raw.strip().lower()
    status = _ALIASES.get(status, status)
    return status if status in _RANK else None


def _new_row(
    *,
    direction: str,
    contact: str,
    from_number: str,
    to_number: str,
    body: str,
    status: str,
    provider: str | None,
    provider_id: str | None,
    key: str,
    now: datetime,
    compliance: bool = False,
) -> dict[str, object]:
    """A new message row at ``now``, its encoding and segments counted from ``body``."""
    count = count_segments(body)
    return {
        "direction": direction,
        "contact_number": contact,
        "from_number": from_number,
        "to_number": to_number,
        "body": body,
        "encoding": count.encoding,
        "segments": count.segments,
        "status": status,
        "provider": provider,
        "provider_id": provider_id,
        "idempotency_key": key,
        "error_code": None,
        "error": None,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
        "delivered_at": None,
        "send_attempts": 0,
        "first_sending_at": None,
        "sending_at": None,
        "compliance": compliance,
    }


def record_outbound(
    conn: Connection,
    *,
    to: str,
    from_: str,
    body: str,
    idempotency_key: str,
    default_region: str | None = None,
    compliance: bool = False,
    now: datetime,
) -> MessageRow:
    """Record a text to send at ``now``, ``queued`` with no provider yet; returns its row.

    ``to`` is normalised to E.164 (raising :class:`workflows.phones.InvalidPhoneNumber`);
    ``from_`` is kept as given, since it may be a short code or a sender id. The same
    ``idempotency_key`` again (a re-run event) records nothing and returns the first row.
    ``compliance`` marks a text the law requires (STOP confirmation, HELP), which the hourly
    cap on automated texts does not count.
    """
    number = normalize_number(to, default_region)
    row = _new_row(
        direction="outbound",
        contact=number,
        from_number=from_.strip(),
        to_number=number,
        body=body,
        status="queued",
        provider=None,
        provider_id=None,
        key=idempotency_key,
        now=now,
        compliance=compliance,
    )
    new_id = conn.execute(_NEW_MESSAGE[conn.dialect.name], row).scalar()
    if new_id is not None:
        announce(conn, MESSAGES)
        return MessageRow(id=int(new_id), **row)  # type: ignore[arg-type]
    stored = conn.execute(select(messages).where(messages.c.idempotency_key == idempotency_key))
    return _message(stored.one())


def record_inbound(
    conn: Connection,
    *,
    from_: str,
    to: str,
    body: str,
    provider_id: str,
    default_region: str | None = None,
    now: datetime,
) -> bool:
    """Record a text received through Twilio as MessageSid ``provider_id``; whether it is new.

    The sender's contact is ensured (:func:`workflows.contacts.ensure_contact`); ``from_`` is
    normalised to E.164 (raising :class:`workflows.phones.InvalidPhoneNumber`), ``to`` (our
    number, maybe a short code) kept as given. The row is ``inbound``, ``received``, provider
    ``twilio``, idempotency key ``in:<MessageSid>``: the same MessageSid again (a repeated
    webhook) records nothing and returns False.
    """
    number = ensure_contact(conn, from_, default_region, now=now).number
    row = _new_row(
        direction="inbound",
        contact=number,
        from_number=number,
        to_number=to.strip(),
        body=body,
        status="received",
        provider="twilio",
        provider_id=provider_id,
        key=f"in:{provider_id}",
        now=now,
    )
    new = bool(conn.execute(_INBOUND_MESSAGE[conn.dialect.name], row).rowcount)
    if new:
        publish(conn, "message.received", lambda: _published(conn, f"in:{provider_id}"), now)
    return new


PUBLISHED_STATUSES = frozenset({"sent", "delivered", "undelivered", "failed"})
"""The outbound statuses published to webhook subscriptions (``message.<status>``)."""


def _published(
    conn: Connection, key: str | None, message_id: int | None = None
) -> dict[str, Any] | None:
    """What a webhook subscription is told about a message (by key or id)."""
    where = messages.c.idempotency_key == key if key is not None else messages.c.id == message_id
    row = conn.execute(select(messages).where(where)).first()
    if row is None:
        return None
    return {
        "id": int(row.id),
        "direction": row.direction,
        "from": row.from_number,
        "to": row.to_number,
        "body": row.body,
        "status": row.status,
        "error_code": row.error_code,
    }


def message_by_key(conn: Connection, idempotency_key: str) -> MessageRow | None:
    """The message recorded with ``idempotency_key``, if any."""
    row = conn.execute(
        select(messages).where(messages.c.idempotency_key == idempotency_key)
    ).first()
    return None if row is None else _message(row)


def _advance(
    conn: Connection,
    where: ColumnElement[bool],
    status: str,
    error_code: int | None,
    now: datetime,
) -> bool:
    """Move the outbound message(s) matching ``where`` to ``status`` if that is forward."""
    rank = _RANK[status]
    earlier = [s for s in OUTBOUND_STATUSES if _RANK[s] < rank]
    if not earlier:
        return False
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if rank >= _RANK["sent"]:
        values["sent_at"] = func.coalesce(messages.c.sent_at, now)
    if status == "delivered":
        values["delivered_at"] = now
    if status in ("undelivered", "failed") and error_code is not None:
        values["error_code"] = error_code
    changed = conn.execute(
        update(messages)
        .where(where, messages.c.direction == "outbound", messages.c.status.in_(earlier))
        .values(**values)
        .returning(messages.c.id)
    ).all()
    for (message_id,) in changed if status in PUBLISHED_STATUSES else ():
        publish(conn, f"message.{status}", partial(_published, conn, None, int(message_id)), now)
    if changed:
        announce(conn, MESSAGES)  # open inboxes show the new status
    return bool(changed)


_MARK_SENT = (
    update(messages)
    .where(
        messages.c.id == bindparam("message_id"),
        messages.c.direction == "outbound",
        messages.c.provider_id.is_(None),
    )
    .values(
        provider=bindparam("provider"),
        provider_id=bindparam("provider_id"),
        status=case(
            (messages.c.status.in_(("queued", "sending")), literal("sent")),
            else_=messages.c.status,
        ),
        sent_at=func.coalesce(messages.c.sent_at, bindparam("now")),
        updated_at=bindparam("now"),
    )
)
"""The usual case of :func:`mark_sent` (first status ``sent``) as one prebuilt statement:
it runs once per text sent."""


def mark_sent(
    conn: Connection,
    message_id: int,
    provider: Provider,
    provider_id: str,
    status: str,
    *,
    now: datetime,
) -> bool:
    """Record that ``provider`` accepted message ``message_id`` as ``provider_id``, with its
    first ``status`` (moved forward only; an unknown status counts as ``queued``).

    Idempotent: marking it again with the same id changes nothing. False when there is no
    such outbound message or it was already marked with another provider id.
    """
    first = outbound_status(status) or "queued"
    params = {
        "message_id": message_id,
        "provider": provider,
        "provider_id": provider_id,
        "now": now,
    }
    if first == "sent" and conn.execute(_MARK_SENT, params).rowcount:
        publish(conn, "message.sent", lambda: _published(conn, None, message_id), now)
        announce(conn, MESSAGES)
        return True
    marked = conn.execute(
        update(messages)
        .where(
            messages.c.id == message_id,
            messages.c.direction == "outbound",
            messages.c.provider_id.is_(None),
        )
        .values(provider=provider, provider_id=provider_id, updated_at=now)
    ).rowcount
    if not marked:
        stored = conn.execute(
            select(messages.c.provider_id).where(
                messages.c.id == message_id, messages.c.direction == "outbound"
            )
        ).first()
        if stored is None or stored.provider_id != provider_id:
            log.warning(
                "message %s: not marked sent as %s (stored: %s)",
                message_id,
                provider_id,
                None if stored is None else stored.provider_id,
            )
            return False
    _advance(conn, messages.c.id == message_id, first, None, now)
    return True


_OPTED_OUT = select(opt_outs.c.number).where(opt_outs.c.number == messages.c.to_number).exists()
_SENDABLE = ("queued", "sending")


SendRefusal = Literal["not_sendable", "raced", "opted_out", "over_cap"]
"""Why :func:`mark_sending` refused: the message is sent or final already (nothing to do),
another attempt started since the caller read it (``raced``: that attempt may be in flight),
its recipient opted out, or the hourly cap on automated texts is reached."""


@dataclass(frozen=True, slots=True)
class HourlyCap:
    """At most ``limit`` automated (non-compliance) texts handed to a provider in the hour
    before a send."""

    limit: int


def mark_sending(
    conn: Connection,
    message_id: int,
    *,
    attempts_seen: int,
    compliance: bool,
    cap: HourlyCap | None = None,
    now: datetime,
) -> int | SendRefusal:
    """Record that a call to the provider for outbound message ``message_id`` starts at
    ``now``: status ``sending``, one more ``send_attempts``, ``first_sending_at`` (kept from
    the first call) and ``sending_at``. Returns the attempt's number (1 for the first call).

    ``attempts_seen`` is the ``send_attempts`` the caller read when it decided to send: the
    write is a compare-and-set on it. Two runs of the same job can overlap (a lease that
    expired while its handler was still working, under load); the one that read the message
    before the other recorded its attempt must not send too, since that attempt may be in
    flight: it gets ``raced`` and must look the text up once that attempt has settled.

    Nothing changes, and the reason is returned instead, when the message must not be sent:
    it has a provider id or a final status (``not_sendable``), another attempt started since
    it was read (``raced``), its recipient is opted out (``opted_out``; unless
    ``compliance``: a STOP's own confirmation) or ``cap`` is reached (``over_cap``;
    compliance texts are not capped). All are checked in this very statement, so a STOP
    committed before it wins, and processes sending at once share one count.
    """
    conditions: list[ColumnElement[bool]] = [
        messages.c.id == message_id,
        messages.c.direction == "outbound",
        messages.c.provider_id.is_(None),
        messages.c.status.in_(_SENDABLE),
        messages.c.send_attempts == attempts_seen,
    ]
    if not compliance:
        conditions.append(~_OPTED_OUT)
        if cap is not None:
            conditions.append(_sent_in_the_hour(now, message_id) < cap.limit)
    attempt = conn.execute(
        update(messages)
        .where(*conditions)
        .values(
            status="sending",
            send_attempts=messages.c.send_attempts + 1,
            first_sending_at=func.coalesce(messages.c.first_sending_at, now),
            sending_at=now,
            updated_at=now,
        )
        .returning(messages.c.send_attempts)
    ).scalar()
    if attempt is not None:
        return int(attempt)
    state = conn.execute(
        select(
            messages.c.provider_id,
            messages.c.status,
            messages.c.send_attempts,
            _OPTED_OUT.label("opted_out"),
        ).where(messages.c.id == message_id, messages.c.direction == "outbound")
    ).first()
    if state is None or state.provider_id is not None or state.status not in _SENDABLE:
        return "not_sendable"
    if state.send_attempts != attempts_seen:
        return "raced"
    return "opted_out" if state.opted_out and not compliance else "over_cap"


_COUNTED = messages.alias("counted")


def _sent_in_the_hour(now: datetime, message_id: int) -> Any:
    """The automated texts (but ``message_id``) first tried in the hour before ``now``."""
    return (
        select(func.count())
        .select_from(_COUNTED)
        .where(
            _COUNTED.c.first_sending_at > now - HOUR,
            _COUNTED.c.direction == "outbound",
            _COUNTED.c.compliance.is_(False),
            _COUNTED.c.id != message_id,
        )
        .scalar_subquery()
    )


def mark_not_sent(conn: Connection, message_id: int, *, now: datetime) -> bool:
    """Move message ``message_id`` from ``sending`` back to ``queued``: its last call to the
    provider surely created nothing, so the next attempt need not look it up first."""
    changed = conn.execute(
        update(messages)
        .where(
            messages.c.id == message_id,
            messages.c.status == "sending",
            messages.c.provider_id.is_(None),
        )
        .values(status="queued", updated_at=now)
    ).rowcount
    return bool(changed)


def automated_texts_since(conn: Connection, since: datetime) -> int:
    """How many outbound texts other than compliance texts were first handed to a provider
    (or tried) after ``since``: what the hourly cap on automated texts counts."""
    query = (
        select(func.count())
        .select_from(messages)
        .where(
            messages.c.first_sending_at > since,
            messages.c.direction == "outbound",
            messages.c.compliance.is_(False),
        )
    )
    return int(conn.execute(query).scalar_one())


def mark_failed(
    conn: Connection, message_id: int, error_code: int | None, error: str, *, now: datetime
) -> bool:
    """Mark outbound message ``message_id`` ``failed`` (the provider refused it), keeping
    ``error_code`` and ``error``; whether it changed.

    Only moves the status forward: a message already ``delivered``, ``undelivered`` or
    ``failed`` is left as it is.
    """
    earlier = [s for s in OUTBOUND_STATUSES if _RANK[s] < _RANK["failed"]]
    changed = conn.execute(
        update(messages)
        .where(
            messages.c.id == message_id,
            messages.c.direction == "outbound",
            messages.c.status.in_(earlier),
        )
        .values(status="failed", error_code=error_code, error=error, updated_at=now)
    ).rowcount
    if changed:
        publish(conn, "message.failed", lambda: _published(conn, None, message_id), now)
        announce(conn, MESSAGES)
    return bool(changed)


def apply_delivery_status(
    conn: Connection,
    provider_id: str,
    status: str,
    error_code: int | None = None,
    *,
    now: datetime,
) -> bool:
    """Apply a delivery callback for MessageSid ``provider_id``; whether anything changed.

    Unknown MessageSids, ignored statuses (see the module docstring) and statuses that would
    move a message backwards (or away from a final status) change nothing and return False.
    ``error_code`` is kept when the message ends ``undelivered`` or ``failed``.
    """
    mapped = outbound_status(status)
    if mapped is None:
        log.info("message %s: ignored status %r", provider_id, status[:20])
        return False
    return _advance(conn, messages.c.provider_id == provider_id, mapped, error_code, now)


async def recent_messages(db: Database, limit: int = 50) -> list[MessageRow]:
    """The latest ``limit`` messages, newest first."""
    query = (
        select(messages).order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit)
    )
    rows = await db.read(lambda conn: conn.execute(query).all())
    return [_message(row) for row in rows]


COLUMNS = ("time (UTC)", "direction", "from", "to", "status", "segs", "body")


def _utc(moment: datetime) -> str:
    # SQLite gives back naive UTC; PostgreSQL an aware time.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _short(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= BODY_WIDTH else flat[: BODY_WIDTH - 1] + "…"


def format_messages(entries: Sequence[MessageRow]) -> str:
    """A plain-text table, one message a line, bodies shortened to 60 characters."""
    if not entries:
        return "no messages yet"
    rows = [COLUMNS] + [
        (
            _utc(entry.created_at),
            entry.direction,
            entry.from_number,
            entry.to_number,
            entry.status,
            str(entry.segments),
            _short(entry.body),
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
