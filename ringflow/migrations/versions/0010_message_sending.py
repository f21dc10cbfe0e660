"""messages: sending attempts and compliance texts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column(
                "send_attempts",
                sa.Integer(),
                nullable=False,
                server_default=sa.text("0"),
                comment="calls made to the provider for this text",
            )
        )
        batch.add_column(
            sa.Column(
                "first_sending_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="when the first call to the provider started",
            )
        )
        batch.add_column(
            sa.Column(
                "sending_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="when the latest call to the provider started",
            )
        )
        batch.add_column(
            sa.Column(
                "compliance",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="a text the law requires (STOP confirmation, HELP): not capped",
            )
        )
        batch.create_index("ix_messages_first_sending_at", ["first_sending_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_first_sending_at")
        batch.drop_column("compliance")
        batch.drop_column("sending_at")
        batch.drop_column("first_sending_at")
        batch.drop_column("send_attempts")
