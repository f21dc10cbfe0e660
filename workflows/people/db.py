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
    Index,
    Integer,
    String,
    Table,
)

from ringflow.database import metadata

AGENT_STATUSES = ("available", "away", "offline")
STRATEGIES = ("round_robin", "least_busy")
RING_STRATEGIES = ("ring_all", "round_robin", "longest_idle")
QUEUE_STATES = ("waiting", "offered", "connected", "left")

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
    Column(
        "on_call",
        String(64),
        nullable=True,
        comment="the call the agent is on (or was offered from a queue); NULL: free",
    ),
    Column(
        "busy_until",
        DateTime(timezone=True),
        nullable=True,
        comment="the end of the wrap-up after the agent's last call",
    ),
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
    Column(
        "ring_strategy",
        String(16),
        nullable=False,
        server_default="ring_all",
        comment="how a call to the team rings its agents: ring_all, round_robin, longest_idle",
    ),
    Column(
        "wrap_up",
        Integer,
        nullable=False,
        server_default="0",
        comment="seconds an agent stays busy after a call through the team ends",
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("strategy IN ('round_robin', 'least_busy')", name="strategy"),
    CheckConstraint(
        "ring_strategy IN ('ring_all', 'round_robin', 'longest_idle')", name="ring_strategy"
    ),
    CheckConstraint("wrap_up >= 0", name="wrap_up"),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("last_assigned_at", DateTime(timezone=True), nullable=True),
    Column(
        "last_rung_at",
        DateTime(timezone=True),
        nullable=True,
        comment="when a call to the team last rang this member (round_robin ringing)",
    ),
)

agent_calls = Table(
    "agent_calls",
    metadata,
    Column("leg", String(64), primary_key=True, comment="the agent's leg (its call id)"),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="SET NULL"), nullable=True),
    Column("call", String(64), nullable=False, comment="the caller's call the leg was bridged to"),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_agent_calls_call", "call"),
    Index("ix_agent_calls_team_ended", "team_id", "ended_at"),
)
"""Every call an agent took: presence follows them, and a team's handle times come from them."""

queue_entries = Table(
    "queue_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call", String(64), nullable=False, unique=True, comment="the waiting caller's call"),
    Column("team_id", Integer, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", String(32), nullable=False, comment="the run waiting in its connect step"),
    Column("turn", Integer, nullable=False, comment="the run's turn that resumes on leaving"),
    Column("status", String(16), nullable=False, comment="waiting, offered, connected, left"),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("choice", String(16), nullable=True, comment="why it left: callback, voicemail..."),
    Column("max_wait", Integer, nullable=False, comment="seconds before the fallback"),
    Column("announce_every", Integer, nullable=False, comment="seconds between announcements"),
    Column("hold_music", String(255), nullable=True, comment="a prompt id or an audio URL"),
    Column("fallback", String(16), nullable=False, comment="after max_wait: voicemail, callback"),
    Column("enqueued_at", DateTime(timezone=True), nullable=False),
    Column("announced_at", DateTime(timezone=True), nullable=True),
    Column("left_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('waiting', 'offered', 'connected', 'left')", name="status"),
    Index("ix_queue_entries_team_status_enqueued", "team_id", "status", "enqueued_at"),
)
"""Callers waiting for a team: first come (``enqueued_at``), first served. A caller offered
to an agent keeps its ``enqueued_at`` and goes back to ``waiting`` if the agent does not
answer, so it keeps its place."""
