"""The one source of "now" for a Ringflow process.

Every component that needs the current time is handed a ``Clock`` when it is built
(``create_app(..., clock=...)`` passes one down to every service), and plain functions of a
database connection take ``now`` as an argument from their caller. Nothing else reads the
system time, so a test (or a simulation) that moves the clock moves it for the whole server:
jobs enqueued, claimed and retried, runs, contacts, messages, schedules and quiet hours all
agree on what time it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""


def system_clock() -> datetime:
    """The machine's time, in UTC: the clock of a real server."""
    return datetime.now(UTC)
