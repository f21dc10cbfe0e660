"""Changes announced in a transaction reach every process's feed: at commit on PostgreSQL (and
never for a rollback), by polling on SQLite, and again after the listening connection dropped."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.event import listen

from ringflow.changes import (
    APPLICATION_NAME,
    OVERRIDES,
    PROMPTS,
    WORKFLOWS,
    ChangeFeed,
    announce,
    listen_dsn,
)
from ringflow.database import Database, database_url, open_database
from tests.conftest import eventually


class Heard:
    """A handler that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    yield database
    await database.close()


async def test_an_announcement_reaches_another_connection_at_commit(db: Database) -> None:
    dsn = listen_dsn(db.url)
    if dsn is None:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite polls (see the next tests)")
    feed = ChangeFeed(dsn, poll_every=3600)
    workflows, overrides = Heard(), Heard()
    feed.subscribe(WORKFLOWS, workflows)
    feed.subscribe(OVERRIDES, overrides)
    feed.start()
    try:
        await asyncio.wait_for(feed.listening.wait(), 5)
        await eventually(lambda: workflows.calls == 1, what="the read after listening began")
        before = time.monotonic()
        await db.write(lambda conn: announce(conn, WORKFLOWS))
        await eventually(lambda: workflows.calls == 2, within=1.0, what="the notification")
        assert time.monotonic() - before < 1.0
        assert overrides.calls == 1, "only the announced topic's handlers run"
    finally:
        await feed.close()


@contextlib.asynccontextmanager
async def workflows_heard(db: Database) -> AsyncIterator[Heard]:
    """A feed on PostgreSQL that hears WORKFLOWS, once its first read is done (skips on
    SQLite, which has no notifications)."""
    dsn = listen_dsn(db.url)
    if dsn is None:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    feed = ChangeFeed(dsn, poll_every=3600)
    heard = Heard()
    feed.subscribe(WORKFLOWS, heard)
    feed.start()
    try:
        await asyncio.wait_for(feed.listening.wait(), 5)
        await eventually(lambda: heard.calls == 1)
        yield heard
    finally:
        await feed.close()


async def test_a_rolled_back_change_announces_nothing(db: Database) -> None:
    def change_then_fail(conn: Connection) -> None:
        announce(conn, WORKFLOWS)
        raise RuntimeError("the change failed")

    async with workflows_heard(db) as heard:
        with pytest.raises(RuntimeError):
            await db.write(change_then_fail)
        await db.write(lambda conn: announce(conn, PROMPTS))  # a marker after it
        await asyncio.sleep(0.3)
        assert heard.calls == 1


async def test_a_repeated_announcement_is_sent_once_but_not_lost_with_a_savepoint(
    db: Database,
) -> None:
    """A transaction announces a topic once however many of its writes announce it (a
    worker's batch of jobs), but one made in a savepoint that rolled back does not count."""
    notices: list[str] = []

    def announce_in_a_lost_savepoint_then_twice(conn: Connection) -> None:
        listen(conn, "before_cursor_execute", lambda *args: notices.append(args[2]))
        savepoint = conn.begin_nested()
        announce(conn, WORKFLOWS)
        savepoint.rollback()
        announce(conn, WORKFLOWS)
        announce(conn, WORKFLOWS)

    async with workflows_heard(db) as heard:
        await db.write(announce_in_a_lost_savepoint_then_twice)
        await eventually(lambda: heard.calls == 2, within=1.0, what="the notification")
        assert sum("pg_notify" in statement for statement in notices) == 2


async def test_the_feed_listens_again_after_its_connection_is_killed(db: Database) -> None:
    dsn = listen_dsn(db.url)
    if dsn is None:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    feed = ChangeFeed(dsn, poll_every=3600, reconnect_first=0.05, ping_every=0.5)
    heard = Heard()
    feed.subscribe(WORKFLOWS, heard)
    feed.start()
    try:
        await asyncio.wait_for(feed.listening.wait(), 5)
        await eventually(lambda: heard.calls == 1)
        killed = await db.read(
            lambda conn: conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            ).all()
        )
        assert killed, "the listening connection was found"
        # Back: everything is read once (what changed meanwhile), then notifications again.
        await eventually(lambda: heard.calls == 2, what="the read after listening again")
        await asyncio.wait_for(feed.listening.wait(), 5)
        await db.write(lambda conn: announce(conn, WORKFLOWS))
        await eventually(lambda: heard.calls == 3, within=1.0, what="a notification")
    finally:
        await feed.close()


async def test_without_notifications_the_feed_polls(db: Database) -> None:
    feed = ChangeFeed(None, poll_every=0.05)
    heard = Heard()
    feed.subscribe(OVERRIDES, heard)
    feed.start()
    try:
        await eventually(lambda: heard.calls >= 3, what="three polls")
    finally:
        await feed.close()
    assert not feed.listening.is_set()


async def test_a_failing_handler_does_not_stop_the_feed() -> None:
    feed = ChangeFeed(None, poll_every=0.02)
    heard = Heard()

    async def broken() -> None:
        raise RuntimeError("cannot read")

    feed.subscribe(WORKFLOWS, broken)
    feed.subscribe(WORKFLOWS, heard)
    feed.start()
    try:
        await eventually(lambda: heard.calls >= 2)
    finally:
        await feed.close()


async def test_an_unknown_topic_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown change topic 'workflow'"):
        await db.write(lambda conn: announce(conn, "workflow"))
    with pytest.raises(ValueError, match="unknown change topic"):
        ChangeFeed(None).subscribe("nonsense", Heard())


def test_the_listening_dsn_is_plain_postgresql() -> None:
    url = database_url(
        "postgresql://ringflow:s3cret@db.internal:5433/calls"
        "?sslmode=require&prepared_statement_cache_size=0"
    )
    assert listen_dsn(url) == "postgresql://ringflow:s3cret@db.internal:5433/calls?sslmode=require"
    assert listen_dsn(database_url("sqlite:///data/ringflow.db")) is None
