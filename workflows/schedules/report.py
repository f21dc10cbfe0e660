"""Schedules in words for admins: open or closed now, until when, overridden or not."""

from __future__ import annotations

from datetime import datetime

from workflows.schedules.book import ScheduleBook


def describe_status(book: ScheduleBook, name: str, now: datetime) -> str:
    """One line: ``office: open until 12:00 (Mon 2026-11-30, America/New_York)`` etc."""
    status = book.status(name, now)
    schedule = book.get(name)
    if status is None or schedule is None:
        return f"{name}: no such schedule"
    state = "open" if status.open else "closed"
    if status.until is not None:
        state += f" until {status.until:%H:%M} ({status.until:%a %Y-%m-%d}"
        state += f", {schedule.spec.timezone})"
    else:
        state += f" ({schedule.spec.timezone}; no change within a year)"
    if status.overridden:
        state += ", by a manual override"
    return f"{name}: {state}"
