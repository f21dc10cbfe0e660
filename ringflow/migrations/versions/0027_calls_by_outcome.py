"""calls: an index for the call log filtered by outcome, newest first

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_calls_outcome_started_at"), "calls", ["outcome", "started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_calls_outcome_started_at"), table_name="calls")
