"""Compliance keywords of inbound texts (US-style STOP / START / HELP).

:func:`classify` says whether an inbound body is an opt-out (``"stop"``), an opt-in
(``"start"``) or a request for help (``"help"``), or none of them (None).

Like US carriers and Twilio's own Advanced Opt-Out, a keyword counts only when it is the
**whole message**: trimmed, case-insensitive, with trailing punctuation ignored, so
``"Stop."``, ``" stop "`` and ``"STOP!"`` opt out, while ``"please stop calling"`` or
``"stop it"`` do not (they are ordinary messages, stored for a person to read). Matching
keywords inside longer texts would opt people out of things they never meant to leave, and
would not match what the carrier itself does with the same text.

Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final, Literal

__all__ = ["HELP_KEYWORDS", "START_KEYWORDS", "STOP_KEYWORDS", "Keyword", "classify", "normalize"]

Keyword = Literal["stop", "start", "help"]

STOP_KEYWORDS: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_KEYWORDS: Final = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS: Final = frozenset({"HELP", "INFO"})

_KEYWORDS: Final[Mapping[str, Keyword]] = {
    **dict.fromkeys(STOP_KEYWORDS, "stop"),
    **dict.fromkeys(START_KEYWORDS, "start"),
    **dict.fromkeys(HELP_KEYWORDS, "help"),
}


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def normalize(body: str) -> str:
    """``body`` trimmed, without trailing punctuation, upper-cased: what keywords match."""
    text = body.strip()
    end = len(text)
    while end and (_is_punctuation(text[end - 1]) or text[end - 1].isspace()):
        end -= 1
    return text[:end].upper()


def classify(body: str) -> Keyword | None:
    """The keyword the whole of ``body`` is, or None for an ordinary message."""
    return _KEYWORDS.get(normalize(body))
