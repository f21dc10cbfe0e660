"""The live hub on both databases: a notice published in a transaction reaches the
subscribers of its topic and key after the commit, never after a rollback, never before the
commit's data can be read; on PostgreSQL through the change feed's listening connection,
which re-tells every subscriber to look again when it listened anew."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Connection, text

from ringflow.changes import ChangeFeed, listen_dsn
from ringflow.database import Database, open_database
from ringflow.live import LiveHub, publish
from tests.conftest import eventually


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    await database.write(lambda conn: conn.execute(text("CREATE TABLE seen (n INTEGER)")))
    yield database
    await database.close()


@pytest.fixture
async def hub(db: Database) -> AsyncIterator[LiveHub]:
    dsn = listen_dsn(db.url)
    feed = ChangeFeed(dsn, poll_every=3600)
    live = LiveHub()
    await live.attach(db, feed)
    feed.start()
    if dsn is not None:
        await asyncio.wait_for(feed.listening.wait(), 5)
    yield live
    await feed.close()


class Heard:
    def __init__(self) -> None:
        self.notices: list[Mapping[str, Any] | None] = []

    def __call__(self, data: Mapping[str, Any] | None) -> None:
        self.notices.append(data)


async def test_a_notice_reaches_its_subscribers_after_commit(db: Database, hub: LiveHub) -> None:
    mine, other = Heard(), Heard()
    hub.subscribe("chat", 7, mine)
    hub.subscribe("chat", 8, other)

    def write(conn: Connection) -> None:
        conn.execute(text("INSERT INTO seen VALUES (1)"))
        publish(conn, "chat", 7, message=41)

    await db.write(write)
    await eventually(lambda: mine.notices, within=2, what="the notice")
    assert mine.notices == [{"topic": "chat", "key": "7", "message": 41}]
    count = await db.read(lambda conn: conn.execute(text("SELECT count(*) FROM seen")).scalar())
    assert count == 1
    await asyncio.sleep(0.2)
    assert other.notices == []


async def test_a_rolled_back_write_tells_nobody(db: Database, hub: LiveHub) -> None:
    heard = Heard()
    hub.subscribe("chat", 1, heard)

    def fail(conn: Connection) -> None:
        publish(conn, "chat", 1, message=1)
        raise RuntimeError("the write failed")

    with pytest.raises(RuntimeError):
        await db.write(fail)
    await db.write(lambda conn: publish(conn, "chat", 1, message=2))
    await eventually(lambda: heard.notices, within=2, what="the second notice")
    await asyncio.sleep(0.2)
    assert heard.notices == [{"topic": "chat", "key": "1", "message": 2}]


async def test_unsubscribed_subscribers_hear_nothing(db: Database, hub: LiveHub) -> None:
    heard, still = Heard(), Heard()
    unsubscribe = hub.subscribe("chat", 3, heard)
    hub.subscribe("chat", 3, still)
    unsubscribe()
    await db.write(lambda conn: publish(conn, "chat", 3, message=5))
    await eventually(lambda: still.notices, within=2, what="the notice")
    assert heard.notices == []
    assert hub.subscriptions == 1


def test_a_notice_carries_ids_not_texts() -> None:
    class Dialect:
        name = "postgresql"

    class Conn:
        dialect = Dialect()

    with pytest.raises(ValueError, match="send ids"):
        publish(Conn(), "chat", 1, body="x" * 8000)  # type: ignore[arg-type]


def test_a_resync_tells_every_subscriber_to_look_again() -> None:
    hub, one, two = LiveHub(), Heard(), Heard()
    hub.subscribe("chat", 1, one)
    hub.subscribe("inbox", "all", two)
    hub.deliver("not json")
    hub.resync()
    assert one.notices == [None]
    assert two.notices == [None]
