"""How many SMS segments a text takes, as carriers bill it.

A text that fits the GSM 03.38 alphabet (the ``gsm0338`` codec; characters of its extension
table such as ``€`` or ``{`` cost two septets) is sent as GSM-7: 160 septets in one segment,
153 per segment once split (the rest carries the concatenation header), and an escaped
character is never split across two segments. Anything else is sent as UCS-2: 70 UTF-16 code
units in one segment, 67 once split, and a surrogate pair (an emoji) is never split.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

Encoding = Literal["GSM-7", "UCS-2"]

_LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """A text's encoding, its length in that encoding's units, and its segments."""

    encoding: Encoding
    units: int
    segments: int


@lru_cache(maxsize=512)
def _gsm_cost(char: str) -> int | None:
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def _gsm_costs(text: str) -> list[int] | None:
    # Per character through a cache: texts repeat the same few dozen characters, and the
    # codec costs microseconds per call (this runs for every text queued).
    costs = []
    for char in text:
        cost = _gsm_cost(char)
        if cost is None:
            return None
        costs.append(cost)
    return costs


def _ucs2_costs(text: str) -> list[int]:
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def count_segments(text: str) -> SegmentCount:
    """The segments ``text`` takes (0 for an empty text)."""
    gsm = _gsm_costs(text)
    encoding: Encoding = "GSM-7" if gsm is not None else "UCS-2"
    costs = gsm if gsm is not None else _ucs2_costs(text)
    units = sum(costs)
    single, split = _LIMITS[encoding]
    if units == 0:
        return SegmentCount(encoding, 0, 0)
    if units <= single:
        return SegmentCount(encoding, units, 1)
    segments, room = 1, split
    for cost in costs:
        if cost > room:
            segments, room = segments + 1, split
        room -= cost
    return SegmentCount(encoding, units, segments)
