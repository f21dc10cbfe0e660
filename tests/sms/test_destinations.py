"""Which numbers may be texted: allowed countries, never premium-rate, shared-cost or unknown
number types (libphonenumber's metadata)."""

from __future__ import annotations

import pytest

from sms.destinations import destination_refusal

US = "+12025550123"  # Washington, DC: a valid fixed-line-or-mobile US number
US_BUSINESS = "+14155550100"
CANADA = "+16135550123"


@pytest.mark.parametrize(
    ("to", "from_", "allowed", "refusal"),
    [
        (US, US_BUSINESS, None, None),
        (CANADA, US_BUSINESS, None, "refused: CA is not the sending number's country (US)"),
        (CANADA, US_BUSINESS, frozenset({"US", "CA"}), None),
        ("+19005550100", US_BUSINESS, frozenset({"US"}), "refused: premium-rate numbers"),
        ("+43810123456", "+43 1 234567890", None, "refused: shared-cost numbers"),
        ("+15551230001", US_BUSINESS, None, "refused: unknown-type numbers"),
        ("junk", US_BUSINESS, None, "refused: unknown-type numbers"),
        (US, "12345", None, "refused: the sending number has no country"),
        (US, "12345", frozenset({"US"}), None),
        ("+447400123456", US_BUSINESS, frozenset({"US"}), "refused: GB is not in"),
    ],
)
def test_destination_refusal(
    to: str, from_: str, allowed: frozenset[str] | None, refusal: str | None
) -> None:
    found = destination_refusal(to, from_, allowed)
    if refusal is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(refusal)
        assert "RINGFLOW_SMS_ALLOWED_COUNTRIES" in found or "numbers are never texted" in found
