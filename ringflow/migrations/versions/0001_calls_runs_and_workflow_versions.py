"""calls, runs and workflow versions

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column(
            "digest",
            sa.String(length=64),
            nullable=False,
            comment="sha256 of the canonical definition",
        ),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column(
            "source", sa.String(length=255), nullable=True, comment="file name it was loaded from"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint(
            "workflow_id", "digest", name=op.f("uq_workflow_versions_workflow_id_digest")
        ),
    )
    op.create_table(
        "runs",
        sa.Column(
            "id", sa.String(length=32), nullable=False, comment="random hex; travels in action URLs"
        ),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column(
            "subject", sa.String(length=64), nullable=False, comment="call SID or conversation id"
        ),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="waiting, completed or failed"
        ),
        sa.Column("turn", sa.Integer(), nullable=False, comment="number of the next expected turn"),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column(
            "last_response",
            sa.Text(),
            nullable=True,
            comment="answer to the last turn, for replays",
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_runs_version_id_workflow_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_channel_subject", ["channel", "subject"], unique=False)
        batch_op.create_index("ix_runs_version_id", ["version_id"], unique=False)

    op.create_table(
        "workflows",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False, comment="file or api"),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_workflows_version_id_workflow_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    op.create_table(
        "calls",
        sa.Column("sid", sa.String(length=64), nullable=False, comment="Twilio CallSid"),
        sa.Column("account_sid", sa.String(length=64), nullable=True),
        sa.Column("caller", sa.String(length=64), nullable=False, comment="From"),
        sa.Column("called", sa.String(length=64), nullable=False, comment="To"),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("workflow_id", sa.String(length=64), nullable=True),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="latest Twilio CallStatus"
        ),
        sa.Column(
            "outcome",
            sa.String(length=16),
            nullable=True,
            comment="decided once, when the call ends",
        ),
        sa.Column(
            "duration", sa.Integer(), nullable=True, comment="seconds, from the final status"
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_calls_run_id_runs"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_calls")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_started_at", ["started_at"], unique=False)
        batch_op.create_index("ix_calls_run_id", ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_run_id")
        batch_op.drop_index("ix_calls_started_at")

    op.drop_table("calls")
    op.drop_table("workflows")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_version_id")
        batch_op.drop_index("ix_runs_channel_subject")

    op.drop_table("runs")
    op.drop_table("workflow_versions")
