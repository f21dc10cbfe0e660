"""The call log's table: every call, whichever channel carried it.

A call is logged by the channel that saw it: the voice channel (``ivr/``) keys it by the
voice provider's CallSid, the PBX channel (``pbx/``) by ``ami-<Linkedid>`` (Asterisk's id of
the call). Both decide the call's outcome once (``outcome`` is set once, when the call ends)
and raise the same post-call event from it, so the log, ``/api/calls`` and ``ringflow calls``
show them all.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table

from ringflow.database import metadata

SID_COMMENT = "the channel's call id: the voice provider's CallSid, or ami-<Linkedid>"
STATUS_COMMENT = "latest status, in the voice provider's words (ringing, in-progress...)"

calls = Table(
    "calls",
    metadata,
    Column("sid", String(64), primary_key=True, comment=SID_COMMENT),
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
    Column("status", String(16), nullable=False, comment=STATUS_COMMENT),
    Column("outcome", String(16), nullable=True, comment="decided once, when the call ends"),
    Column("duration", Integer, nullable=True, comment="seconds, from the final status"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_calls_started_at", "started_at"),
    # The log filtered by outcome, newest first, without reading every call (bench/console_pages).
    Index("ix_calls_outcome_started_at", "outcome", "started_at"),
    # Foreign keys are checked through an index on the referring column; without it SQLite
    # scans every call each time a run is inserted.
    Index("ix_calls_run_id", "run_id"),
)
