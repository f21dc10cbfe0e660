"""webhook deliveries: an index for deleting settled ones after the retention period

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_webhook_deliveries_status_created_at"),
        "webhook_deliveries",
        ["status", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_deliveries_status_created_at"), table_name="webhook_deliveries")
