"""The tables of the people who answer: ``agents``, ``teams`` and ``team_members``.

An agent is addressed by its ``name`` (a handle: letters, digits, ``.``, ``_``, ``-``), as is
a team. ``team_members.last_assigned_at`` is when the team last gave that member a
conversation: the round-robin strategy picks the member who waited longest.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
)

from ringflow.database import metadata

AGENT_STATUSES = ("available", "away", "offline")
STRATEGIES = ("round_robin", "least_busy")

agents = Table(
    "agents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True, comment="handle, used in paths"),
    Column("display_name", String(255), nullable=True),
    Column("email", String(255), nullable=True),
    Column(
        "endpoints",
        JSON,
        nullable=False,
        comment='where voice reaches the agent: [{"kind": "phone|sip|client", "address"}]',
    ),
    Column("languages", JSON, nullable=False, comment="language tags, e.g. ['en', 'ko']"),
    Column("status", String(16), nullable=False, comment="available, away or offline"),
    Column("max_open", Integer, nullable=False, comment="most open conversations at once"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('available', 'away', 'offline')", name="status"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("strategy", String(16), nullable=False, comment="round_robin or least_busy"),
    Column("schedule", String(64), nullable=True, comment="the named business-hours schedule"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("strategy IN ('round_robin', 'least_busy')", name="strategy"),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("last_assigned_at", DateTime(timezone=True), nullable=True),
)
