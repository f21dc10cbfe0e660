"""Compliance keywords: the whole message, trimmed, any case, trailing punctuation ignored."""

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
        ("opt out", None),
        (".stop", None),
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
