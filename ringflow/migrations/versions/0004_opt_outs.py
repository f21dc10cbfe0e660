"""opt_outs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "opt_outs",
        sa.Column("number", sa.String(length=32), nullable=False, comment="E.164"),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "source",
            sa.String(length=16),
            nullable=False,
            comment="keyword, carrier_21610 or admin",
        ),
        sa.Column(
            "keyword", sa.String(length=32), nullable=True, comment="the keyword texted, if any"
        ),
        sa.CheckConstraint(
            "source IN ('keyword', 'carrier_21610', 'admin')", name=op.f("ck_opt_outs_source")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
