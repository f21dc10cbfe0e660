"""Migration 0011 on a database with data: existing text conversations become open, latest
conversations of their thread; existing tokens stay admin tokens; and it goes back down."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, text

from ringflow.database import open_database
from ringflow.migrate import _config, current_revision, head_revision, upgrade


def _to(revision: str, down: bool = False) -> object:
    def move(conn: Connection) -> None:
        (command.downgrade if down else command.upgrade)(_config(conn), revision)

    return move


async def test_0011_keeps_conversations_and_tokens(database_url: str) -> None:
    db = await open_database(database_url)
    now = datetime.now(UTC)
    try:
        await db.write(_to("0010"))  # type: ignore[arg-type]
        await db.write(
            lambda conn: conn.execute(
                text(
                    "INSERT INTO conversations (business_number, contact_number, created_at,"
                    " last_message_at) VALUES ('+15005550001', '+14155550123', :now, :now)"
                ),
                {"now": now},
            )
        )
        await db.write(
            lambda conn: conn.execute(
                text(
                    "INSERT INTO api_tokens (name, token_hash, prefix, created_at)"
                    " VALUES ('alice', :digest, 'rf_abc', :now)"
                ),
                {"digest": "0" * 64, "now": now},
            )
        )
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        row = await db.read(
            lambda conn: conn.execute(
                text("SELECT channel, status, priority, latest, state_version FROM conversations")
            ).one()
        )
        assert (row.channel, row.status, row.priority, bool(row.latest)) == (
            "sms",
            "open",
            "normal",
            True,
        )
        assert row.state_version == 0
        role = await db.read(
            lambda conn: conn.execute(text("SELECT role, agent_id FROM api_tokens")).one()
        )
        assert (role.role, role.agent_id) == ("admin", None)

        await db.write(_to("0010", down=True))  # type: ignore[arg-type]
        assert await current_revision(db) == "0010"
        count = await db.read(
            lambda conn: conn.execute(text("SELECT count(*) FROM conversations")).scalar()
        )
        assert count == 1
    finally:
        await db.close()
