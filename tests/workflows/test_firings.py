"""Trigger firings: each event starts its workflow once, and a workflow texts one contact at
most once per ``once_per``; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ringflow.database import Database
from workflows.db import trigger_firings
from workflows.firings import Firing, failed, fire

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ALICE = "+15550001111"
BOB = "+15550003333"
TEN_MINUTES = 600


async def firing(
    db: Database,
    key: str,
    *,
    workflow: str | None = "missed-text",
    contact: str = ALICE,
    at: datetime = NOW,
    once_per: int = TEN_MINUTES,
    status: str = "started",
    run_id: str | None = None,
) -> Firing:
    return await db.write(
        lambda conn: fire(
            conn,
            event_key=key,
            workflow_id=workflow,
            contact=contact,
            now=at,
            once_per=once_per,
            status=status,
            run_id=run_id,
        )
    )


async def row(db: Database, key: str) -> Any:
    query = select(trigger_firings).where(trigger_firings.c.event_key == key)
    return await db.read(lambda conn: conn.execute(query).one())


async def test_a_new_event_fires_and_is_recorded(migrated_db: Database) -> None:
    assert await firing(migrated_db, "call-event:CA1") == "new"
    stored = await row(migrated_db, "call-event:CA1")
    assert (stored.workflow_id, stored.contact_number, stored.status, stored.run_id) == (
        "missed-text",
        ALICE,
        "started",
        None,
    )


async def test_the_same_event_again_is_a_repeat(migrated_db: Database) -> None:
    assert await firing(migrated_db, "call-event:CA1") == "new"
    # Even much later, for another contact or with no limit: handled once, ever.
    later = NOW + timedelta(days=1)
    assert await firing(migrated_db, "call-event:CA1", at=later, once_per=0) == "repeat"
    assert await firing(migrated_db, "call-event:CA1", contact=BOB) == "repeat"
    stored = await row(migrated_db, "call-event:CA1")
    assert (stored.contact_number, stored.status) == (ALICE, "started")


async def test_a_second_event_within_once_per_is_limited(migrated_db: Database) -> None:
    assert await firing(migrated_db, "call-event:CA1") == "new"
    soon = NOW + timedelta(minutes=9)
    assert await firing(migrated_db, "call-event:CA2", at=soon) == "limited"
    assert (await row(migrated_db, "call-event:CA2")).status == "limited"
    # A limited event is still handled only once.
    assert await firing(migrated_db, "call-event:CA2", at=soon) == "repeat"


async def test_a_limited_firing_does_not_extend_the_window(migrated_db: Database) -> None:
    assert await firing(migrated_db, "CA1") == "new"
    assert await firing(migrated_db, "CA2", at=NOW + timedelta(minutes=9)) == "limited"
    # 11 minutes after the one that started, 2 after the limited one: texts again.
    assert await firing(migrated_db, "CA3", at=NOW + timedelta(minutes=11)) == "new"


async def test_after_the_window_the_workflow_fires_again(migrated_db: Database) -> None:
    assert await firing(migrated_db, "CA1") == "new"
    assert await firing(migrated_db, "CA2", at=NOW + timedelta(minutes=10)) == "new"
    assert (await row(migrated_db, "CA2")).status == "started"


async def test_another_contact_or_workflow_is_not_limited(migrated_db: Database) -> None:
    assert await firing(migrated_db, "CA1") == "new"
    assert await firing(migrated_db, "CA2", contact=BOB) == "new"
    assert await firing(migrated_db, "CA3", workflow="thanks-text") == "new"
    assert await firing(migrated_db, "CA4", workflow="thanks-text", contact=BOB) == "new"
    assert await firing(migrated_db, "CA5") == "limited"


async def test_once_per_zero_never_limits(migrated_db: Database) -> None:
    for number in range(3):
        assert await firing(migrated_db, f"SM{number}", once_per=0) == "new"


async def test_replies_and_ignored_events_do_not_count(migrated_db: Database) -> None:
    assert await firing(migrated_db, "SM1", status="reply") == "new"
    assert await firing(migrated_db, "SM2", workflow=None, status="ignored") == "new"
    assert (await row(migrated_db, "SM2")).workflow_id == ""
    assert await firing(migrated_db, "SM3", at=NOW + timedelta(minutes=1)) == "new"
    # ...and are never limited themselves.
    assert await firing(migrated_db, "SM4", status="reply", at=NOW + timedelta(minutes=2)) == "new"
    assert (await row(migrated_db, "SM4")).status == "reply"


async def test_a_firing_notes_its_run(migrated_db: Database) -> None:
    assert await firing(migrated_db, "CA1", run_id="run-1") == "new"
    stored = await row(migrated_db, "CA1")
    assert (stored.run_id, stored.status) == ("run-1", "started")
    # A limited firing started nothing.
    assert await firing(migrated_db, "CA2", run_id="run-2") == "limited"
    assert (await row(migrated_db, "CA2")).run_id is None


async def test_a_failed_first_turn_does_not_count(migrated_db: Database) -> None:
    assert await firing(migrated_db, "CA1", run_id="run-1") == "new"
    await migrated_db.write(lambda conn: failed(conn, "CA1"))
    stored = await row(migrated_db, "CA1")
    assert (stored.run_id, stored.status) == ("run-1", "failed")
    assert await firing(migrated_db, "CA2", at=NOW + timedelta(minutes=1)) == "new"
