"""Schedules kept as files: one YAML or JSON file per schedule, named after the file.

``schedules/support.yaml`` is the schedule ``support``. Problems are reported like workflow
problems, with file, line and path (``support.yaml:4 weekly.mon.0: bad time '25:00' ...``).
"""

from __future__ import annotations

import re
from pathlib import Path

from workflows.problems import Problem, WorkflowInvalid
from workflows.schedules.calendar import Schedule
from workflows.schedules.spec import ScheduleInvalid, parse_spec
from workflows.source import parse

SCHEDULE_SUFFIXES = (".yaml", ".yml", ".json")
SCHEDULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAME_RULE = "1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit"


def load_schedule_file(path: Path) -> Schedule:
    """Read, parse and compile one schedule file; raise ``ScheduleInvalid`` with lines."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ScheduleInvalid(source, [Problem((), f"cannot read the file: {reason}")]) from None
    try:
        document = parse(text, source)
    except WorkflowInvalid as error:
        # Callers catch one kind of error for every schedule problem, syntax included.
        raise ScheduleInvalid(source, error.problems) from None
    try:
        return Schedule(parse_spec(document.data, source))
    except ScheduleInvalid as error:
        located = [
            Problem(problem.path, problem.message, document.line_of(problem.path))
            for problem in error.problems
        ]
        raise ScheduleInvalid(source, located) from None


def load_schedule_folder(folder: Path) -> dict[str, Schedule]:
    """Every schedule file in ``folder`` (not recursive) by name; {} if there is no folder.

    Hidden files (``.name.yaml``, as editors and macOS leave them) are skipped. Raises
    ``ScheduleInvalid`` for the first bad file (sorted by name), for a file name that is not a
    schedule name, and for two files of one name (``support.yaml`` and ``support.json``).
    """
    if not folder.exists():
        return {}
    schedules: dict[str, Schedule] = {}
    seen: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SCHEDULE_SUFFIXES or path.name.startswith("."):
            continue
        if not path.is_file():
            continue
        name = path.stem
        if not SCHEDULE_NAME.fullmatch(name):
            message = f"bad schedule name {name!r}: the file name must be {NAME_RULE}"
            raise ScheduleInvalid(str(path), [Problem((), message)])
        if name in seen:
            message = f"schedule {name!r} is already defined by {seen[name]}"
            raise ScheduleInvalid(str(path), [Problem((), message)])
        schedules[name] = load_schedule_file(path)
        seen[name] = path.name
    return schedules
