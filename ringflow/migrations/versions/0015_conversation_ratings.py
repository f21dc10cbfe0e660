"""conversation ratings: the answers of ``survey`` steps, with the assignee when rated

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversation_ratings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False, comment="1 (worst) to 5 (best)"),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "agent_id",
            sa.Integer(),
            nullable=True,
            comment="the conversation's assignee when it was rated",
        ),
        sa.Column(
            "team_id",
            sa.Integer(),
            nullable=True,
            comment="the conversation's team when it was rated",
        ),
        sa.Column(
            "run_id", sa.String(length=32), nullable=False, comment="the run whose survey asked"
        ),
        sa.Column("turn", sa.Integer(), nullable=False, comment="the run's turn that kept it"),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_conversation_ratings_rating")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_ratings_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_conversation_ratings_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_conversation_ratings_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_ratings")),
        sa.UniqueConstraint("run_id", "turn", name=op.f("uq_conversation_ratings_run_id_turn")),
    )
    op.create_index("ix_conversation_ratings_rated_at", "conversation_ratings", ["rated_at"])
    op.create_index(
        "ix_conversation_ratings_conversation_id", "conversation_ratings", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_ratings_conversation_id", table_name="conversation_ratings")
    op.drop_index("ix_conversation_ratings_rated_at", table_name="conversation_ratings")
    op.drop_table("conversation_ratings")
