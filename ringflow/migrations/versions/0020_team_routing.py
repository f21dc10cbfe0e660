"""team routing: ring strategies and wrap-up on teams, agent presence on calls, the calls
agents took, and the callers waiting in a team's hold queue

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.add_column(
            sa.Column(
                "ring_strategy",
                sa.String(length=16),
                server_default="ring_all",
                nullable=False,
                comment="how a call to the team rings its agents: ring_all, round_robin, "
                "longest_idle",
            )
        )
        batch.add_column(
            sa.Column(
                "wrap_up",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="seconds an agent stays busy after a call through the team ends",
            )
        )
        batch.create_check_constraint(
            "ring_strategy", "ring_strategy IN ('ring_all', 'round_robin', 'longest_idle')"
        )
        batch.create_check_constraint("wrap_up", "wrap_up >= 0")
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column(
                "on_call",
                sa.String(length=64),
                nullable=True,
                comment="the call the agent is on (or was offered from a queue); NULL: free",
            )
        )
        batch.add_column(
            sa.Column(
                "busy_until",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="the end of the wrap-up after the agent's last call",
            )
        )
    with op.batch_alter_table("team_members") as batch:
        batch.add_column(
            sa.Column(
                "last_rung_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="when a call to the team last rang this member (round_robin ringing)",
            )
        )
    op.create_table(
        "agent_calls",
        sa.Column(
            "leg", sa.String(length=64), nullable=False, comment="the agent's leg (its call id)"
        ),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column(
            "call",
            sa.String(length=64),
            nullable=False,
            comment="the caller's call the leg was bridged to",
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_calls_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_agent_calls_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("leg", name=op.f("pk_agent_calls")),
    )
    op.create_index("ix_agent_calls_call", "agent_calls", ["call"])
    op.create_index("ix_agent_calls_team_ended", "agent_calls", ["team_id", "ended_at"])
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "call", sa.String(length=64), nullable=False, comment="the waiting caller's call"
        ),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column(
            "run_id",
            sa.String(length=32),
            nullable=False,
            comment="the run waiting in its connect step",
        ),
        sa.Column(
            "turn", sa.Integer(), nullable=False, comment="the run's turn that resumes on leaving"
        ),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="waiting, offered, connected, left",
        ),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "choice",
            sa.String(length=16),
            nullable=True,
            comment="why it left: callback, voicemail...",
        ),
        sa.Column("max_wait", sa.Integer(), nullable=False, comment="seconds before the fallback"),
        sa.Column(
            "announce_every",
            sa.Integer(),
            nullable=False,
            comment="seconds between announcements",
        ),
        sa.Column(
            "hold_music",
            sa.String(length=255),
            nullable=True,
            comment="a prompt id or an audio URL",
        ),
        sa.Column(
            "fallback",
            sa.String(length=16),
            nullable=False,
            comment="after max_wait: voicemail, callback",
        ),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('waiting', 'offered', 'connected', 'left')",
            name=op.f("ck_queue_entries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_queue_entries_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_queue_entries_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
        sa.UniqueConstraint("call", name=op.f("uq_queue_entries_call")),
    )
    op.create_index(
        "ix_queue_entries_team_status_enqueued",
        "queue_entries",
        ["team_id", "status", "enqueued_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_queue_entries_team_status_enqueued", table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_index("ix_agent_calls_team_ended", table_name="agent_calls")
    op.drop_index("ix_agent_calls_call", table_name="agent_calls")
    op.drop_table("agent_calls")
    with op.batch_alter_table("team_members") as batch:
        batch.drop_column("last_rung_at")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("busy_until")
        batch.drop_column("on_call")
    with op.batch_alter_table("teams") as batch:
        batch.drop_constraint(op.f("ck_teams_wrap_up"), type_="check")
        batch.drop_constraint(op.f("ck_teams_ring_strategy"), type_="check")
        batch.drop_column("wrap_up")
        batch.drop_column("ring_strategy")
