"""Compliance keywords: the whole message, normalised, any case, surrounding punctuation ignored."""

from __future__ import annotations

import pytest

from sms.keywords import classify, normalize


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        ("Stop.", "stop"),
        (" stop ", "stop"),
        ("STOP!!", "stop"),
        ("\tStop !\n", "stop"),
        ("StopAll", "stop"),
        ("unsubscribe", "stop"),
        ("Cancel", "stop"),
        ("end", "stop"),
        ("QUIT", "stop"),
        ("revoke", "stop"),
        ("optout", "stop"),
        ("opt out", "stop"),
        ("Opt-Out", "stop"),
        ("OPT  OUT", "stop"),
        ("opt\u2014out", "stop"),  # an em dash
        ("opt\u00a0out", "stop"),  # a no-break space
        # Full-width letters, invisible characters, punctuation at either end.
        ("\uff33\uff34\uff2f\uff30", "stop"),
        ("\u200bSTOP", "stop"),
        ("ST\u200dOP", "stop"),
        ("\ufeffstop\u200c", "stop"),
        ("S\u00adTOP", "stop"),
        ("\u2060stop\u2060", "stop"),
        ("stop\ufe0f", "stop"),
        ("\u200estop", "stop"),
        (".stop", "stop"),
        ("\u00a1STOP!", "stop"),
        ("'stop'", "stop"),
        ("(Stop)", "stop"),
        ('"UNSUBSCRIBE"', "stop"),
        ("\u201cstop\u201d", "stop"),
        ("\uff33\uff34\uff2f\uff30\uff01", "stop"),
        ("START", "start"),
        ("yes", "start"),
        ("Unstop.", "start"),
        ("HELP", "help"),
        ("help?", "help"),
        ("Info", "help"),
        # Carriers match the whole message only: these are ordinary texts.
        ("please stop calling", None),
        ("stop it", None),
        ("STOP STOP", None),
        ("opt in or out", None),
        ("s.top", None),
        ("stop \U0001f6d1", None),
        ("stopp", None),
        ("yes please", None),
        ("I need help", None),
        ("", None),
        ("   ", None),
        ("Hello, when are you open?", None),
    ],
)
def test_classify(body: str, expected: str | None) -> None:
    assert classify(body) == expected


def test_normalize_keeps_inner_text() -> None:
    assert normalize("  Stop all?! ") == "STOP ALL"


def test_normalize_removes_invisible_characters_and_unifies_dashes() -> None:
    assert normalize("\u200b\u00bfOpt\u2011out?\u200b") == "OPT-OUT"
    assert normalize("\u3000stop\u3000") == "STOP"  # an ideographic space
