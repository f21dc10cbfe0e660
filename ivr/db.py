"""Tables of the voice channel: the call log."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table

from ringflow.database import metadata

calls = Table(
    "calls",
    metadata,
    Column("sid", String(64), primary_key=True, comment="Twilio CallSid"),
    Column("account_sid", String(64), nullable=True),
    Column("caller", String(64), nullable=False, comment="From"),
    Column("called", String(64), nullable=False, comment="To"),
    # Deferred: a call and its run are inserted in one transaction, the call first, so that a
    # repeated webhook is detected by the call's key before anything else is written.
    Column(
        "run_id",
        String(32),
        ForeignKey("runs.id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
    Column("workflow_id", String(64), nullable=True),
    Column("status", String(16), nullable=False, comment="latest Twilio CallStatus"),
    Column("outcome", String(16), nullable=True, comment="decided once, when the call ends"),
    Column("duration", Integer, nullable=True, comment="seconds, from the final status"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_calls_started_at", "started_at"),
    # Foreign keys are checked through an index on the referring column; without it SQLite
    # scans every call each time a run is inserted.
    Index("ix_calls_run_id", "run_id"),
)
