"""Schedules from a folder: one file per schedule, problems with file, line and path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from workflows.problems import WorkflowInvalid
from workflows.schedules import ScheduleInvalid, load_schedule_folder

BERLIN = ZoneInfo("Europe/Berlin")
SUPPORT = """\
timezone: Europe/Berlin
weekly:
  mon: ["09:00-17:00"]
quiet_hours: ["21:00-08:00"]
"""
SALES = '{"timezone": "America/New_York", "weekly": {"tue": ["10:00-16:00"]}}'


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def invalid(folder: Path) -> list[str]:
    with pytest.raises(ScheduleInvalid) as raised:
        load_schedule_folder(folder)
    return raised.value.messages()


def test_every_schedule_file_is_named_after_its_file(tmp_path: Path) -> None:
    write(tmp_path, "support.yaml", SUPPORT)
    write(tmp_path, "sales-us.json", SALES)
    write(tmp_path, "night_line.yml", "timezone: Asia/Seoul\n")
    write(tmp_path, "README.md", "not a schedule")
    write(tmp_path, ".support.yaml", "editor backup: not read")
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested", "other.yaml", "timezone: Nowhere/At_All\n")  # not recursive
    schedules = load_schedule_folder(tmp_path)
    assert sorted(schedules) == ["night_line", "sales-us", "support"]
    monday_10 = datetime(2026, 6, 1, 10, tzinfo=BERLIN)
    assert schedules["support"].is_open(monday_10)
    assert schedules["support"].quiet_until(datetime(2026, 6, 1, 22, tzinfo=BERLIN)) == (
        datetime(2026, 6, 2, 8, tzinfo=BERLIN)
    )
    assert str(schedules["sales-us"].zone) == "America/New_York"


def test_a_missing_folder_has_no_schedules(tmp_path: Path) -> None:
    assert load_schedule_folder(tmp_path / "schedules") == {}
    assert load_schedule_folder(tmp_path) == {}


def test_a_bad_schedule_is_reported_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "a-good.yaml", SUPPORT)
    path = write(
        tmp_path,
        "support.yaml",
        "timezone: Europe/Berlin\nweekly:\n  mon:\n    - 09:00-17:00\n    - 25:00-26:00\n"
        "quiet_hours: [21:00-08:00, 07:00-07:30]\nhours: {}\n",
    )
    assert invalid(tmp_path) == [
        f"{path}:5 weekly.mon.1: bad time '25:00': use 00:00 to 23:59, or 24:00 as an end",
        f"{path}:6 quiet_hours: windows '21:00-08:00' and '07:00-07:30' overlap"
        " (quiet hours repeat every day)",
        f"{path}:7 hours: unknown key",
    ]


def test_a_bad_json_schedule_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sales.json", '{\n  "timezone": "Mars/Olympus"\n}\n')
    assert invalid(tmp_path) == [f"{path}:2 timezone: unknown time zone 'Mars/Olympus'"]


def test_a_file_that_does_not_parse_is_a_schedule_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "support.yaml", "timezone: UTC\nweekly: [\n")
    with pytest.raises(ScheduleInvalid) as raised:
        load_schedule_folder(tmp_path)
    assert isinstance(raised.value, WorkflowInvalid)
    (message,) = raised.value.messages()
    assert message.startswith(f"{path}:3: not valid YAML: ")
    empty = write(tmp_path / "empty", "support.yaml", "")
    assert invalid(tmp_path / "empty") == [f"{empty}:1: the file is empty"]


@pytest.mark.parametrize(
    "file_name", ["Support.yaml", "support hours.yaml", "-support.yml", f"{'a' * 65}.json"]
)
def test_a_bad_file_name_is_named(tmp_path: Path, file_name: str) -> None:
    path = write(tmp_path, file_name, SUPPORT)
    name = path.stem
    assert invalid(tmp_path) == [
        f"{path}: bad schedule name {name!r}: the file name must be 1 to 64 lowercase letters,"
        " digits, '_' or '-', starting with a letter or digit"
    ]


def test_two_files_of_one_name_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "support.json", '{"timezone": "UTC"}')
    path = write(tmp_path, "support.yaml", SUPPORT)
    assert invalid(tmp_path) == [f"{path}: schedule 'support' is already defined by support.json"]
