"""callbacks: callback requests (team, customer, place in line, status) and their attempts

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column(
            "customer", sa.String(length=32), nullable=False, comment="E.164 number to call back"
        ),
        sa.Column(
            "our_number",
            sa.String(length=32),
            nullable=False,
            comment="E.164 caller id of the callback",
        ),
        sa.Column(
            "call_sid",
            sa.String(length=64),
            nullable=True,
            comment="the call the request came from",
        ),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), nullable=False, comment="place in line"
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True, comment="why it failed or was cancelled"),
        sa.Column(
            "attempts", sa.Integer(), nullable=False, comment="the customer's attempts so far"
        ),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_delay", sa.Integer(), nullable=False, comment="seconds between attempts"),
        sa.Column(
            "due_at", sa.DateTime(timezone=True), nullable=False, comment="not placed before"
        ),
        sa.Column(
            "waits", sa.Integer(), nullable=False, comment="times held back: closed or nobody free"
        ),
        sa.Column("legs", sa.Integer(), nullable=False, comment="placements so far"),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "agent_address",
            sa.String(length=255),
            nullable=True,
            comment="the agent endpoint rung",
        ),
        sa.Column(
            "agent_call_sid",
            sa.String(length=64),
            nullable=True,
            comment="the current placement's",
        ),
        sa.Column(
            "placing_at", sa.DateTime(timezone=True), nullable=True, comment="placement recorded"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'calling', 'connected', 'failed', 'cancelled')",
            name=op.f("ck_callback_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_callback_requests_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_callback_requests_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_requests")),
    )
    op.create_index(
        "ix_callback_requests_team_id_status_requested_at",
        "callback_requests",
        ["team_id", "status", "requested_at"],
    )
    op.create_index(
        "ix_callback_requests_status_requested_at",
        "callback_requests",
        ["status", "requested_at"],
    )
    op.create_index(
        "uq_callback_requests_agent_calling",
        "callback_requests",
        ["agent_id"],
        unique=True,
        postgresql_where=sa.text("status = 'calling'"),
        sqlite_where=sa.text("status = 'calling'"),
    )
    op.create_table(
        "callback_attempts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("callback_id", _ID, nullable=False),
        sa.Column("leg", sa.Integer(), nullable=False, comment="the request's placement number"),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("agent_call_sid", sa.String(length=64), nullable=True),
        sa.Column("customer_call_sid", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True, comment="None while in progress"),
        sa.Column("duration", sa.Integer(), nullable=True, comment="seconds the customer talked"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "dialed_at", sa.DateTime(timezone=True), nullable=True, comment="customer rung from"
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callback_requests.id"],
            name=op.f("fk_callback_attempts_callback_id_callback_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_callback_attempts_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
        sa.UniqueConstraint(
            "callback_id", "leg", name=op.f("uq_callback_attempts_callback_id_leg")
        ),
    )


def downgrade() -> None:
    op.drop_table("callback_attempts")
    op.drop_index("uq_callback_requests_agent_calling", table_name="callback_requests")
    op.drop_index("ix_callback_requests_status_requested_at", table_name="callback_requests")
    op.drop_index(
        "ix_callback_requests_team_id_status_requested_at", table_name="callback_requests"
    )
    op.drop_table("callback_requests")
