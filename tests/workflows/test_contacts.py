"""Contacts: created once on first contact, attributes merged, junk numbers refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ringflow.database import Database
from tests.clock import FrozenClock
from workflows.contacts import (
    InvalidPhoneNumber,
    ensure_contact,
    get_contact,
    set_attributes,
)
from workflows.contacts_db import contacts

CLOCK = FrozenClock()
NOW = CLOCK.now


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


async def count(db: Database) -> int:
    query = select(func.count()).select_from(contacts)
    return int(await db.read(lambda conn: conn.execute(query).scalar_one()))


async def test_a_contact_is_created_once_on_first_contact(db: Database) -> None:
    assert await db.read(lambda conn: get_contact(conn, "+82 10-1234-5678")) is None

    first = await db.write(lambda conn: ensure_contact(conn, "+82 10-1234-5678", now=NOW))
    again = await db.write(lambda conn: ensure_contact(conn, "010-1234-5678", "KR", now=NOW))

    assert first.number == "+821012345678"
    assert first.name is None
    assert first.attributes == {}
    assert again == first
    assert await count(db) == 1
    assert await db.read(lambda conn: get_contact(conn, "+821012345678")) == first


async def test_attributes_are_merged_and_none_removes_a_key(db: Database) -> None:
    number = "+15005550006"
    created = await db.write(
        lambda conn: set_attributes(
            conn, number, {"plan": "gold", "visits": 2, "vip": True}, now=NOW
        )
    )
    assert created.attributes == {"plan": "gold", "visits": 2, "vip": True}

    merged = await db.write(
        lambda conn: set_attributes(conn, number, {"visits": 3, "vip": None, "score": 4.5}, now=NOW)
    )
    assert merged.attributes == {"plan": "gold", "visits": 3, "score": 4.5}
    assert merged.id == created.id
    assert merged.updated_at >= created.updated_at

    # Removing a key that is not there changes nothing.
    same = await db.write(lambda conn: set_attributes(conn, number, {"missing": None}, now=NOW))
    assert same.attributes == merged.attributes

    stored = await db.read(lambda conn: get_contact(conn, number))
    assert stored is not None
    assert stored.attributes == {"plan": "gold", "visits": 3, "score": 4.5}
    assert await count(db) == 1


async def test_attribute_values_must_be_scalars(db: Database) -> None:
    with pytest.raises(ValueError, match="not a scalar"):
        await db.write(
            lambda conn: set_attributes(conn, "+15005550006", {"tags": ["a"]}, now=NOW)  # type: ignore[dict-item]
        )
    assert await count(db) == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("hello", "'hello' is not a phone number"),
        ("12345", "'12345' has no country code"),
        ("+1 555", "'+1 555' is not a valid number in its country"),
    ],
)
async def test_junk_numbers_are_refused(db: Database, raw: str, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=re.escape(message)):
        await db.write(lambda conn: ensure_contact(conn, raw, now=NOW))
    with pytest.raises(InvalidPhoneNumber, match=re.escape(message)):
        await db.write(lambda conn: set_attributes(conn, raw, {"a": 1}, now=NOW))
    with pytest.raises(InvalidPhoneNumber, match=re.escape(message)):
        await db.read(lambda conn: get_contact(conn, raw))
    assert await count(db) == 0
