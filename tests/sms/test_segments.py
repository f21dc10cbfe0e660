"""Segment counting as carriers bill it."""

from __future__ import annotations

import pytest

from sms.segments import SegmentCount, count_segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentCount("GSM-7", 0, 0)),
        ("Sorry we missed your call.", SegmentCount("GSM-7", 26, 1)),
        ("a" * 160, SegmentCount("GSM-7", 160, 1)),
        ("a" * 161, SegmentCount("GSM-7", 161, 2)),
        ("a" * 306, SegmentCount("GSM-7", 306, 2)),
        ("a" * 307, SegmentCount("GSM-7", 307, 3)),
        ("€" * 80, SegmentCount("GSM-7", 160, 1)),  # extension characters cost two septets
        ("€" * 81, SegmentCount("GSM-7", 162, 2)),
        ("a" * 152 + "€", SegmentCount("GSM-7", 154, 1)),
        ("a" * 152 + "€" + "a" * 7, SegmentCount("GSM-7", 161, 2)),  # € starts segment 2
        ("부재중 전화가 있었습니다.", SegmentCount("UCS-2", 14, 1)),
        ("가" * 70, SegmentCount("UCS-2", 70, 1)),
        ("가" * 71, SegmentCount("UCS-2", 71, 2)),
        ("Thanks 🙂", SegmentCount("UCS-2", 9, 1)),  # an emoji is two UTF-16 units
        ("가" * 66 + "🙂", SegmentCount("UCS-2", 68, 1)),
        ("가" * 66 + "🙂" + "가" * 3, SegmentCount("UCS-2", 71, 2)),  # the pair starts segment 2
    ],
)
def test_segments(text: str, expected: SegmentCount) -> None:
    assert count_segments(text) == expected


def test_an_escaped_character_is_never_split() -> None:
    # 152 septets, then "€" (2 septets) does not fit the 1 left in segment 1 of 153.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text) == SegmentCount("GSM-7", 306, 3)
