"""Business hours: weekly windows, split shifts, time zones, holidays, one-off dates, overrides.

Pure (no I/O). ``ScheduleSpec`` is the format an admin writes (``parse_spec`` validates it with
readable problems); ``Schedule`` compiles it once and answers ``is_open``, ``next_change``,
``next_open`` and ``status`` (with a ``ManualOverride``); ``describe_next_open`` words the next
opening for a message. The rules are in ``docs/schedules.md``.
"""

from workflows.schedules.calendar import (
    SEARCH_DAYS,
    ManualOverride,
    Schedule,
    ScheduleStatus,
    wall_to_utc,
)
from workflows.schedules.describe import describe_next_open
from workflows.schedules.spec import (
    WEEKDAYS,
    ScheduleInvalid,
    ScheduleSpec,
    Window,
    parse_spec,
)

__all__ = [
    "SEARCH_DAYS",
    "WEEKDAYS",
    "ManualOverride",
    "Schedule",
    "ScheduleInvalid",
    "ScheduleSpec",
    "ScheduleStatus",
    "Window",
    "describe_next_open",
    "parse_spec",
    "wall_to_utc",
]
