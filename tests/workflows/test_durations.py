"""Durations in workflow files (``once_per``, ``wait``): seconds, or a number with a unit."""

from __future__ import annotations

import pytest

from workflows.loader import from_text
from workflows.names import MAX_DURATION, parse_duration
from workflows.problems import WorkflowInvalid


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0),
        (90, 90),
        ("90", 90),
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        (" 10 m ", 600),
        ("0s", 0),
        ("366d", MAX_DURATION),
        (MAX_DURATION, MAX_DURATION),
    ],
)
def test_valid_durations(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["10x", "1.5h", "1h30m", "", "m", "-5m", "ten minutes", "12345678", None, 1.5, True, False],
)
def test_not_a_duration(value: object) -> None:
    with pytest.raises(ValueError, match=r"must be a duration such as 30s, 10m, 2h or 1d"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["367d", MAX_DURATION + 1, -1, "9000h"])
def test_out_of_range(value: object) -> None:
    with pytest.raises(ValueError, match="must be between 0 seconds and 366 days"):
        parse_duration(value)


def test_once_per_reads_a_duration() -> None:
    def once_per(value: str) -> int:
        text = (
            f"id: t\ntrigger: {{event: call.missed, once_per: {value}}}\nstart: main\n"
            'steps:\n  main: {say: "Sorry we missed you."}'
        )
        return from_text(text, "t.yaml").spec.trigger.limit_seconds

    assert once_per("1h") == 3600
    assert once_per("0") == 0
    with pytest.raises(WorkflowInvalid) as raised:
        once_per("1 week")
    assert raised.value.messages() == [
        "t.yaml:2 trigger.once_per: must be a duration such as 30s, 10m, 2h or 1d, not '1 week'"
    ]


def test_post_call_events_default_to_ten_minutes() -> None:
    text = 'id: t\ntrigger: {event: call.ended}\nstart: main\nsteps:\n  main: {say: "Thanks."}'
    assert from_text(text, "t.yaml").spec.trigger.limit_seconds == 600
