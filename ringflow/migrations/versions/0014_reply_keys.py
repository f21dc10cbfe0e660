"""conversation_events: the client's key for a reply, so a retried request sends nothing twice

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_events") as batch:
        batch.add_column(
            sa.Column(
                "client_key",
                sa.String(length=100),
                nullable=True,
                comment="the idempotency key the client sent with a reply",
            )
        )
        batch.create_unique_constraint(
            op.f("uq_conversation_events_conversation_id_client_key"),
            ["conversation_id", "client_key"],
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_events") as batch:
        batch.drop_constraint(
            op.f("uq_conversation_events_conversation_id_client_key"), type_="unique"
        )
        batch.drop_column("client_key")
