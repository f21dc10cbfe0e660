"""jobs: the cancelled status, and an index for deleting finished jobs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_WITH_CANCELLED = "status IN ('queued', 'running', 'done', 'dead', 'cancelled')"
_WITHOUT_CANCELLED = "status IN ('queued', 'running', 'done', 'dead')"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint("status", _WITH_CANCELLED)
        batch.alter_column(
            "status",
            existing_type=sa.String(length=16),
            existing_nullable=False,
            comment="queued, running, done, dead or cancelled",
            existing_comment="queued, running, done or dead",
        )
        batch.create_index("ix_jobs_status_finished_at", ["status", "finished_at"], unique=False)


def downgrade() -> None:
    # A cancelled job was a dead one an admin gave up on: it goes back to dead.
    op.execute(sa.text("UPDATE jobs SET status = 'dead' WHERE status = 'cancelled'"))
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_status_finished_at")
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint("status", _WITHOUT_CANCELLED)
        batch.alter_column(
            "status",
            existing_type=sa.String(length=16),
            existing_nullable=False,
            comment="queued, running, done or dead",
            existing_comment="queued, running, done, dead or cancelled",
        )
