"""say.render: stored workflow versions say ``channel`` where older ones said the provider's name

Before the workflow core became vendor-neutral, the default of ``say.render`` was the voice
provider's name; definitions stored then (every ``say`` step, since the default is stored
too) still carry it. The core now reads only ``channel`` and ``server``, so this rewrites
those definitions and their digests (sha256 of the canonical JSON, as the loader computes
it). Where a workflow already has a stored version with the rewritten definition (the same
file loaded again after the rename), references move to that version and the old row goes.

Revision ID: 0023
Revises: 0018
Create Date: 2026-12-03
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0018"
branch_labels = None
depends_on = None

OLD_NAME = "twilio"
NEW_NAME = "channel"

_versions = sa.table(
    "workflow_versions",
    sa.column("id", sa.Integer()),
    sa.column("workflow_id", sa.String()),
    sa.column("digest", sa.String()),
    sa.column("definition", sa.JSON()),
)
_REFERENCES = (
    ("workflows", "version_id"),
    ("workflows", "draft_version_id"),
    ("workflow_publications", "version_id"),
    ("runs", "version_id"),
)


def _renamed(value: Any) -> tuple[Any, bool]:
    """``value`` with every ``say`` step's old ``render`` name as the new one, and whether
    there was any."""
    if isinstance(value, list):
        items = [_renamed(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if not isinstance(value, dict):
        return value, False
    changed = False
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "say" and isinstance(item, dict) and item.get("render") == OLD_NAME:
            item = {**item, "render": NEW_NAME}
            changed = True
        item, inner = _renamed(item)
        out[key] = item
        changed = changed or inner
    return out, changed


def _digest(definition: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def upgrade() -> None:
    """Rewrite the definitions that still name the provider, merging into twins."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_versions.c.id, _versions.c.workflow_id, _versions.c.definition)
    ).all()
    for row in rows:
        definition, changed = _renamed(row.definition)
        if not changed:
            continue
        digest = _digest(definition)
        twin = conn.execute(
            sa.select(_versions.c.id).where(
                _versions.c.workflow_id == row.workflow_id,
                _versions.c.digest == digest,
                _versions.c.id != row.id,
            )
        ).scalar()
        if twin is None:
            conn.execute(
                _versions.update()
                .where(_versions.c.id == row.id)
                .values(definition=definition, digest=digest)
            )
            continue
        for table, column in _REFERENCES:
            reference = sa.table(table, sa.column(column, sa.Integer()))
            conn.execute(
                reference.update().where(reference.c[column] == row.id).values({column: twin})
            )
        conn.execute(_versions.delete().where(_versions.c.id == row.id))


def downgrade() -> None:
    """Nothing to undo: the code of revision 0015 reads ``channel`` (and stores it)."""
