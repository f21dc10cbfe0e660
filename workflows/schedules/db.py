"""The ``schedule_overrides`` table: an admin's "open now" / "closed now", one row per schedule.

A row holds until the schedule's next natural boundary after ``set_at`` (see
:class:`workflows.schedules.ManualOverride`); rows are replaced when an admin presses again and
deleted when cleared. See :mod:`workflows.schedules.overrides`.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, String, Table

from ringflow.database import metadata

schedule_overrides = Table(
    "schedule_overrides",
    metadata,
    Column("name", String(64), primary_key=True, comment="the schedule's name"),
    Column("open", Boolean, nullable=False, comment="true: open now, false: closed now"),
    Column("set_at", DateTime(timezone=True), nullable=False),
    Column("set_by", String(64), nullable=True, comment="who pressed it, if known"),
)

stored_schedules = Table(
    "schedules",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("definition", JSON, nullable=False, comment="the schedule as written (its format)"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Schedules made over the admin API (schedules from files are not stored here)."""
