"""Business hours: weekly windows, split shifts, time zones, holidays, one-off dates, overrides,
quiet hours.

``ScheduleSpec`` is the format an admin writes (``parse_spec`` validates it with readable
problems); ``Schedule`` compiles it once and answers ``is_open``, ``next_change``,
``next_open``, ``quiet_until`` and ``status`` (with a ``ManualOverride``);
``describe_next_open`` words the next opening for a message. ``load_schedule_folder`` reads one
file per named schedule; a ``ScheduleBook`` holds them all with their overrides and gives the
filters their ``OpenHours`` view. Everything here is pure except reading files; the overrides'
table and its functions (``workflows.schedules.db``, ``workflows.schedules.overrides``) are
imported by path, so that importing schedules never pulls in the database. The rules are in
``docs/schedules.md``.
"""

from workflows.schedules.book import OpenHours, ScheduleBook
from workflows.schedules.calendar import (
    SEARCH_DAYS,
    ManualOverride,
    Schedule,
    ScheduleStatus,
    wall_to_utc,
)
from workflows.schedules.describe import describe_next_open
from workflows.schedules.files import (
    SCHEDULE_NAME,
    SCHEDULE_SUFFIXES,
    load_schedule_file,
    load_schedule_folder,
)
from workflows.schedules.spec import (
    WEEKDAYS,
    ScheduleInvalid,
    ScheduleSpec,
    Window,
    parse_spec,
)

__all__ = [
    "SCHEDULE_NAME",
    "SCHEDULE_SUFFIXES",
    "SEARCH_DAYS",
    "WEEKDAYS",
    "ManualOverride",
    "OpenHours",
    "Schedule",
    "ScheduleBook",
    "ScheduleInvalid",
    "ScheduleSpec",
    "ScheduleStatus",
    "Window",
    "describe_next_open",
    "load_schedule_file",
    "load_schedule_folder",
    "parse_spec",
    "wall_to_utc",
]
