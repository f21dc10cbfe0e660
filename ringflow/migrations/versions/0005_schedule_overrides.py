"""schedule_overrides

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_overrides",
        sa.Column("name", sa.String(length=64), nullable=False, comment="the schedule's name"),
        sa.Column(
            "open", sa.Boolean(), nullable=False, comment="true: open now, false: closed now"
        ),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "set_by", sa.String(length=64), nullable=True, comment="who pressed it, if known"
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_schedule_overrides")),
    )


def downgrade() -> None:
    op.drop_table("schedule_overrides")
