"""Tables of the workflow core: workflows, their immutable versions, and runs."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ringflow.database import metadata

workflow_versions = Table(
    "workflow_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", String(64), nullable=False),
    Column("digest", String(64), nullable=False, comment="sha256 of the canonical definition"),
    Column("definition", JSON, nullable=False),
    Column("source", String(255), nullable=True, comment="file name it was loaded from"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workflow_id", "digest"),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("origin", String(16), nullable=False, comment="file or api"),
    Column(
        "version_id",
        Integer,
        ForeignKey("workflow_versions.id"),
        nullable=True,
        comment="the published version runs start on; none while only a draft exists",
    ),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column(
        "draft_version_id",
        Integer,
        ForeignKey("workflow_versions.id"),
        nullable=True,
        comment="the draft an admin is editing, if any",
    ),
)

workflow_publications = Table(
    "workflow_publications",
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("number", Integer, primary_key=True, comment="1, 2, 3... per workflow"),
    Column("version_id", Integer, ForeignKey("workflow_versions.id"), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("note", String(200), nullable=True, comment="e.g. rolled back to 2"),
)
"""Every publication of a workflow, numbered: what "version 3" means, and the history a
roll-back adds to (rolling back to 2 publishes 2's definition again as the next number)."""

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True, comment="random hex; travels in action URLs"),
    Column("version_id", Integer, ForeignKey("workflow_versions.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("subject", String(64), nullable=False, comment="call SID or conversation id"),
    Column("status", String(16), nullable=False, comment="waiting, completed or failed"),
    Column("turn", Integer, nullable=False, comment="number of the next expected turn"),
    Column("state", JSON, nullable=False),
    Column("last_response", Text, nullable=True, comment="answer to the last turn, for replays"),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_runs_channel_subject", "channel", "subject"),
    Index("ix_runs_version_id", "version_id"),
)

trigger_firings = Table(
    "trigger_firings",
    metadata,
    Column("event_key", String(128), primary_key=True, comment="one firing per event, ever"),
    Column("workflow_id", String(64), nullable=False),
    Column("contact_number", String(32), nullable=False, comment="E.164"),
    Column(
        "status", String(16), nullable=False, comment="started, limited, failed, reply or ignored"
    ),
    Column("run_id", String(32), nullable=True),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Index("ix_trigger_firings_recent", "workflow_id", "contact_number", "fired_at"),
)
"""Each event that started (or was limited from starting) a workflow: makes a re-run event
start nothing, and holds what the per-recipient limit (``once_per``) counts."""
