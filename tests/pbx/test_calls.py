"""Calls followed from AMI events (pure): which calls, their outcomes, the catch-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pbx.calls import CallTracker, PbxCall, outcome, phone_numbers
from tests.fakes.ami_server import read_events

NOW = datetime.now(UTC).replace(microsecond=0)  # any instant: the tracker is given it


def follow(name: str, tracker: CallTracker | None = None) -> list[tuple[str, str]]:
    tracker = tracker or CallTracker(phone_numbers(None))
    return [
        (change.kind, change.call.sid)
        for event in read_events(name)
        for change in tracker.apply(event, NOW)
    ]


def test_a_recorded_call_starts_is_answered_and_ends_once() -> None:
    assert follow("answered") == [
        ("started", "ami-1764730101.36"),
        ("answered", "ami-1764730101.36"),
        ("ended", "ami-1764730101.36"),
    ]
    assert follow("transferred") == [
        ("started", "ami-1764730401.60"),
        ("answered", "ami-1764730401.60"),
        ("ended", "ami-1764730401.60"),
    ]


def test_calls_outside_the_inbound_contexts_are_not_followed() -> None:
    inbound = CallTracker(phone_numbers(None), frozenset({"from-trunk"}))
    assert follow("missed", inbound)[0] == ("started", "ami-1764730201.40")
    internal = CallTracker(phone_numbers(None), frozenset({"from-internal"}))
    assert follow("missed", internal) == []  # the trunk's call starts in from-trunk


def test_extensions_are_not_customers() -> None:
    numbers = phone_numbers("US")
    assert numbers("1001") is None
    assert numbers("anonymous") is None
    assert numbers("(415) 555-0123") == "+14155550123"
    assert phone_numbers(None)("14155550123") == "+14155550123"


def test_outcomes() -> None:
    call = PbxCall("1.1", "+14155550123", "+15005550001", NOW)
    assert outcome(call, after_hours=False) == "abandoned"  # hung up in the PBX's menus
    assert outcome(call, after_hours=True) == "after_hours"
    call.left_queue = True
    assert outcome(call, after_hours=False) == "missed"
    call.answered = True
    assert outcome(call, after_hours=True) == "ended"  # an agent reached wins over hours


def test_the_catch_up_ends_vanished_calls_and_starts_unknown_ones() -> None:
    tracker = CallTracker(phone_numbers(None))
    events = read_events("answered")
    for event in events[:5]:
        tracker.apply(event, NOW)
    channels = [
        {
            "Event": "CoreShowChannel",
            "Channel": "PJSIP/trunk-00000040",
            "CallerIDNum": "+14155550111",
            "Exten": "+15005550001",
            "Uniqueid": "1764739999.1",
            "Linkedid": "1764739999.1",
            "Application": "Queue",
            "Duration": "00:01:05",
            "BridgeId": "",
        }
    ]
    changes = tracker.resync(channels, NOW)
    assert [(c.kind, c.call.sid) for c in changes] == [
        ("ended", "ami-1764730101.36"),
        ("started", "ami-1764739999.1"),
    ]
    started = changes[1].call
    assert started.started_at == NOW - timedelta(minutes=1, seconds=5)
    assert started.tried
    assert tracker.resync(channels, NOW) == []  # twice: nothing new
