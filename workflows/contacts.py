"""Contacts: the people Ringflow calls and texts, keyed by their number in E.164.

A contact is created the first time a number is met (:func:`ensure_contact`, safe to call on
every event: ``INSERT ... ON CONFLICT DO NOTHING`` then a select, so concurrent first contacts
from several instances make one row). Its ``attributes`` are a flat map of scalars (text,
numbers, booleans) that workflows read and write; :func:`set_attributes` merges updates into it
and a ``None`` value removes a key.

Every function is a plain function of a SQLAlchemy ``Connection`` (run it through
``Database.read``/``Database.write``) and normalises the number it is given with
:func:`workflows.phones.normalize_number`, raising its :class:`InvalidPhoneNumber` for junk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from workflows.contacts_db import contacts
from workflows.phones import InvalidPhoneNumber, normalize_number

VISITOR_PREFIX = "chat:"
"""Contacts met on web chat before they gave a number are keyed ``chat:<visitor>`` (the
chat channel's public visitor id); a phone number is always E.164."""
_VISITOR = re.compile(r"^chat:[A-Za-z0-9_-]{8,27}$")


def contact_key(raw: str, default_region: str | None = None) -> str:
    """The key a contact is stored under: a chat visitor's address as it is, else the phone
    number in E.164 (:class:`InvalidPhoneNumber` for junk)."""
    if raw.startswith(VISITOR_PREFIX):
        if _VISITOR.match(raw):
            return raw
        raise InvalidPhoneNumber(f"{raw[:40]!r} is not a chat visitor's address")
    return normalize_number(raw, default_region)


__all__ = [
    "ContactRow",
    "InvalidPhoneNumber",
    "Scalar",
    "UnknownContact",
    "change_attributes",
    "contact_key",
    "contact_values",
    "ensure_contact",
    "find_contacts",
    "get_contact",
    "lock_contact",
    "remember_numbers",
    "replace_contact",
    "set_attributes",
]

Scalar = str | int | float | bool | None
"""An attribute value; ``None`` in an update removes the key."""

_NEW_CONTACT = {
    "sqlite": sqlite.insert(contacts).on_conflict_do_nothing(index_elements=["number"]),
    "postgresql": postgresql.insert(contacts).on_conflict_do_nothing(index_elements=["number"]),
}


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One contact as stored."""

    id: int
    number: str
    name: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def values(self) -> dict[str, Any]:
        """The contact as filters and templates see it: its attributes, ``name``, ``number``."""
        return {**self.attributes, "name": self.name, "number": self.number}


def _contact(row: Row[Any]) -> ContactRow:
    return ContactRow(
        id=row.id,
        number=row.number,
        name=row.name,
        attributes=dict(row.attributes or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _select(conn: Connection, number: str, *, for_update: bool = False) -> ContactRow | None:
    query = select(contacts).where(contacts.c.number == number)
    if for_update:
        # PostgreSQL locks the row until the transaction ends; SQLite renders nothing (its
        # write transactions are BEGIN IMMEDIATE, so nobody else writes meanwhile anyway).
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _contact(row)


def get_contact(
    conn: Connection, number: str, default_region: str | None = None
) -> ContactRow | None:
    """The contact of ``number``, or None when it was never met."""
    return _select(conn, contact_key(number, default_region))


def remember_numbers(conn: Connection, numbers: Iterable[str], *, now: datetime) -> None:
    """Create a contact for each number never met before, in one statement; numbers that
    are not phone numbers (an anonymous caller id) are skipped."""
    rows: dict[str, dict[str, Any]] = {}
    for number in numbers:
        try:
            e164 = normalize_number(number)
        except InvalidPhoneNumber:
            continue
        rows[e164] = {
            "number": e164,
            "name": None,
            "attributes": {},
            "created_at": now,
            "updated_at": now,
        }
    if rows:
        conn.execute(_NEW_CONTACT[conn.dialect.name], list(rows.values()))


def ensure_contact(
    conn: Connection, number: str, default_region: str | None = None, *, now: datetime
) -> ContactRow:
    """The contact of ``number``, created (with no name and no attributes) on first contact."""
    e164 = contact_key(number, default_region)
    conn.execute(
        _NEW_CONTACT[conn.dialect.name],
        {"number": e164, "name": None, "attributes": {}, "created_at": now, "updated_at": now},
    )
    found = _select(conn, e164)
    assert found is not None  # inserted above, or already there; contacts are never deleted
    return found


def _locking_upsert(dialect: Any) -> Any:
    # Inserting, or "updating" the number to itself, takes the row's lock on PostgreSQL and
    # returns the row: create-or-lock-and-read in one statement (it runs for every event).
    insert = dialect.insert(contacts)
    return insert.on_conflict_do_update(
        index_elements=["number"], set_={"number": insert.excluded.number}
    ).returning(*contacts.c)


_LOCKING_UPSERT = {"sqlite": _locking_upsert(sqlite), "postgresql": _locking_upsert(postgresql)}


def contact_values(conn: Connection, number: str) -> dict[str, Any]:
    """The contact of ``number`` as filters and templates see it (:meth:`ContactRow.values`);
    empty when the number was never met or is not a phone number (a withheld caller id)."""
    try:
        contact = get_contact(conn, number)
    except InvalidPhoneNumber:
        return {}
    return {} if contact is None else contact.values()


def lock_contact(
    conn: Connection, number: str, default_region: str | None = None, *, now: datetime
) -> ContactRow:
    """The contact of ``number`` (created on first contact), locked until the transaction
    ends on PostgreSQL, so that work per contact (a per-recipient limit) is serialised;
    SQLite's write transactions are serialised anyway."""
    row = conn.execute(
        _LOCKING_UPSERT[conn.dialect.name],
        {
            "number": contact_key(number, default_region),
            "name": None,
            "attributes": {},
            "created_at": now,
            "updated_at": now,
        },
    ).one()
    return _contact(row)


def set_attributes(
    conn: Connection,
    number: str,
    updates: Mapping[str, Scalar],
    default_region: str | None = None,
    *,
    now: datetime,
) -> ContactRow:
    """Merge ``updates`` into the attributes of ``number``'s contact (created if need be);
    a ``None`` value removes its key. Returns the contact as updated."""
    for key, value in updates.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"attribute names are non-empty texts, not {key!r}")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(f"attribute {key!r}: {type(value).__name__} is not a scalar")
    contact = ensure_contact(conn, number, default_region, now=now)
    current = _select(conn, contact.number, for_update=True)
    assert current is not None
    merged = dict(current.attributes)
    for key, value in updates.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if merged == current.attributes:
        return current
    conn.execute(
        update(contacts)
        .where(contacts.c.id == current.id)
        .values(attributes=merged, updated_at=now)
    )
    updated = _select(conn, contact.number)
    assert updated is not None
    return updated


class UnknownContact(LookupError):
    """No contact has this number."""


def _prefix(text: str) -> str:
    """A LIKE pattern for values starting with ``text`` (its wildcards escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def find_contacts(
    conn: Connection, *, limit: int, number: str | None = None, starting_with: str | None = None
) -> list[ContactRow]:
    """The newest ``limit`` contacts: only ``number``'s (E.164) when given, only those whose
    number or name (in any case) starts with ``starting_with`` when given."""
    conditions: list[ColumnElement[bool]] = []
    if number is not None:
        conditions.append(contacts.c.number == number)
    if starting_with is not None:
        pattern = _prefix(starting_with)
        conditions.append(
            or_(
                contacts.c.number.like(pattern, escape="\\"),
                func.lower(contacts.c.name).like(pattern.lower(), escape="\\"),
            )
        )
    query = (
        select(contacts)
        .where(*conditions)
        .order_by(contacts.c.created_at.desc(), contacts.c.id.desc())
        .limit(limit)
    )
    return [_contact(row) for row in conn.execute(query)]


def replace_contact(
    conn: Connection,
    number: str,
    name: str | None,
    attributes: Mapping[str, Scalar],
    *,
    now: datetime,
) -> tuple[bool, ContactRow]:
    """Give ``number``'s contact (created if need be) this name and exactly these attributes;
    whether it was created, and the contact as stored."""
    created = get_contact(conn, number) is None
    contact = ensure_contact(conn, number, now=now)
    conn.execute(
        update(contacts)
        .where(contacts.c.id == contact.id)
        .values(name=name, attributes=dict(attributes), updated_at=now)
    )
    stored = _select(conn, contact.number)
    assert stored is not None
    return created, stored


def change_attributes(
    conn: Connection, number: str, updates: Mapping[str, Scalar], *, now: datetime
) -> ContactRow:
    """:func:`set_attributes` for a contact that exists; :class:`UnknownContact` otherwise."""
    if get_contact(conn, number) is None:
        raise UnknownContact(number)
    return set_attributes(conn, number, updates, now=now)
