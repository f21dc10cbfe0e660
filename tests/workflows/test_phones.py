"""Phone numbers normalised to E.164 with the phonenumbers library."""

from __future__ import annotations

import pytest

from workflows.phones import InvalidPhoneNumber, normalize_number


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 (202) 555-0143", None, "+12025550143"),
        ("202-555-0143", "US", "+12025550143"),
        ("010-1234-5678", "KR", "+821012345678"),
        ("+82 10 1234 5678", "US", "+821012345678"),
        (" +4930123456 ", None, "+4930123456"),
    ],
)
def test_numbers_are_normalised(raw: str, region: str | None, e164: str) -> None:
    assert normalize_number(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "message"),
    [
        (
            "202-555-0143",
            None,
            "'202-555-0143' has no country code: write it as +<country code><number>",
        ),
        ("hello", "US", "'hello' is not a phone number"),
        ("+1 202", None, "'+1 202' is not a valid number in its country"),
        ("+1 999 555 0143", None, "'+1 999 555 0143' is not a valid number in its country"),
    ],
)
def test_bad_numbers_say_why(raw: str, region: str | None, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as raised:
        normalize_number(raw, region)
    assert str(raised.value) == message
