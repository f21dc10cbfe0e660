"""Compliance keywords of inbound texts (US-style STOP / START / HELP).

:func:`classify` says whether an inbound body is an opt-out (``"stop"``), an opt-in
(``"start"``) or a request for help (``"help"``), or none of them (None).

Like US carriers and Twilio's own Advanced Opt-Out, a keyword counts only when it is the
**whole message**, so ``"please stop calling"`` or ``"stop it"`` do not opt out (they are
ordinary messages, stored for a person to read): matching keywords inside longer texts would
opt people out of things they never meant to leave. What "the whole message" is, is read
generously (:func:`normalize`), because a STOP that is not recognised keeps texting someone
who asked us not to:

* NFKC normalisation first: full-width ``ＳＴＯＰ``, ligatures and compatibility forms become
  plain letters, a no-break space a space;
* invisible characters are removed wherever they are: zero-width space, (non-)joiner, word
  joiner, BOM, soft hyphen, direction marks and other format characters (Unicode category
  Cf), variation selectors, the combining grapheme joiner and the Hangul fillers;
* every dash (``‐``, ``–``, ``—``...) is a hyphen, runs of spaces are one space;
* punctuation and spaces around the word are ignored, at either end: ``"Stop."``,
  ``"¡STOP!"``, ``"'stop'"``, ``"(Stop)"``;
* case does not matter.

``OPT OUT`` and ``OPT-OUT`` are STOP words too, besides ``OPTOUT``.

Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final, Literal

__all__ = ["HELP_KEYWORDS", "START_KEYWORDS", "STOP_KEYWORDS", "Keyword", "classify", "normalize"]

Keyword = Literal["stop", "start", "help"]

STOP_KEYWORDS: Final = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "OPT OUT",
        "OPT-OUT",
    }
)
START_KEYWORDS: Final = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS: Final = frozenset({"HELP", "INFO"})

_KEYWORDS: Final[Mapping[str, Keyword]] = {
    **dict.fromkeys(STOP_KEYWORDS, "stop"),
    **dict.fromkeys(START_KEYWORDS, "start"),
    **dict.fromkeys(HELP_KEYWORDS, "help"),
}


_INVISIBLE_OTHERS: Final = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers (they render as nothing)
)


def _is_invisible(char: str) -> bool:
    """Format characters (ZWSP, ZWJ, BOM, soft hyphen, direction marks...), variation
    selectors and the few other characters that show nothing."""
    code = ord(char)
    return (
        unicodedata.category(char) == "Cf"
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or char in _INVISIBLE_OTHERS
    )


def _is_punctuation_or_space(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def normalize(body: str) -> str:
    """What keywords match: ``body`` NFKC-normalised, invisible characters removed, dashes
    as hyphens, spaces collapsed, punctuation around it removed, upper-cased."""
    text = unicodedata.normalize("NFKC", body)
    text = "".join(
        "-" if unicodedata.category(char) == "Pd" else char
        for char in text
        if not _is_invisible(char)
    )
    text = " ".join(text.split())
    start, end = 0, len(text)
    while start < end and _is_punctuation_or_space(text[start]):
        start += 1
    while end > start and _is_punctuation_or_space(text[end - 1]):
        end -= 1
    return text[start:end].upper()


def classify(body: str) -> Keyword | None:
    """The keyword the whole of ``body`` is, or None for an ordinary message."""
    return _KEYWORDS.get(normalize(body))
