"""Migration 0023 on a database with data: stored definitions whose ``say`` steps name the
voice provider as their render now say ``channel``, with the digest the loader computes for
them; a version that became the twin of one stored since moves its references to it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import Connection, text

from ringflow.database import open_database
from ringflow.migrate import _config, current_revision, head_revision, upgrade
from workflows.loader import from_data

OLD_RENDER = "twilio"


def _to(revision: str) -> Any:
    def move(conn: Connection) -> None:
        command.upgrade(_config(conn), revision)

    return move


def _definition(workflow_id: str) -> dict[str, Any]:
    return from_data(
        {
            "id": workflow_id,
            "trigger": {"event": "call.incoming"},
            "start": "hello",
            "steps": {
                "hello": {"say": {"text": "Hello", "language": "en-US"}, "next": "bye"},
                "bye": {"say": "Goodbye"},
            },
        }
    ).definition()


def _as_stored_before_the_rename(definition: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(definition)
    for step in old["steps"].values():
        step["say"]["render"] = OLD_RENDER
    return old


async def test_0023_rewrites_old_render_names_and_merges_twins(database_url: str) -> None:
    db = await open_database(database_url)
    now = datetime.now(UTC)
    lone = _definition("lone")
    twin = _definition("twin")
    try:
        await db.write(_to("0015"))

        def seed(conn: Connection) -> None:
            insert = text(
                "INSERT INTO workflow_versions (id, workflow_id, digest, definition, created_at)"
                " VALUES (:id, :workflow, :digest, :definition, :now)"
            )
            rows = [
                (1, "lone", "a" * 64, _as_stored_before_the_rename(lone)),
                (2, "twin", "b" * 64, _as_stored_before_the_rename(twin)),
                (3, "twin", from_data(twin).digest, twin),
            ]
            for id_, workflow, digest, definition in rows:
                conn.execute(
                    insert,
                    {
                        "id": id_,
                        "workflow": workflow,
                        "digest": digest,
                        "definition": json.dumps(definition),
                        "now": now,
                    },
                )
            conn.execute(
                text(
                    "INSERT INTO workflows (id, origin, version_id, enabled, updated_at)"
                    " VALUES ('lone', 'api', 1, true, :now), ('twin', 'api', 3, true, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO workflow_publications (workflow_id, number, version_id,"
                    " published_at) VALUES ('twin', 1, 2, :now), ('twin', 2, 3, :now)"
                ),
                {"now": now},
            )

        await db.write(seed)
        await upgrade(db)
        assert await current_revision(db) == head_revision()

        def stored(conn: Connection) -> list[Any]:
            return list(
                conn.execute(
                    text("SELECT id, workflow_id, digest, definition FROM workflow_versions")
                ).all()
            )

        rows = {row.id: row for row in await db.read(stored)}
        assert sorted(rows) == [1, 3]
        lone_row = rows[1]
        definition = (
            json.loads(lone_row.definition)
            if isinstance(lone_row.definition, str)
            else lone_row.definition
        )
        assert definition == lone
        assert lone_row.digest == from_data(lone).digest
        publications = await db.read(
            lambda conn: conn.execute(
                text(
                    "SELECT number, version_id FROM workflow_publications"
                    " WHERE workflow_id = 'twin' ORDER BY number"
                )
            ).all()
        )
        assert [tuple(p) for p in publications] == [(1, 3), (2, 3)]
    finally:
        await db.close()
