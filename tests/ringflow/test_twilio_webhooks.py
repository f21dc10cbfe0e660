"""The webhook signature as Ringflow computes it is the one twilio's library computes."""

from __future__ import annotations

import pytest
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from ringflow.twilio_webhooks import sign

TOKEN = "12345678901234567890123456789012"


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [("CallSid", "CA" + "1" * 32), ("From", "+14155550100"), ("To", "+14155550199")],
        # Repeated names, a repeated pair, an empty value, non-ASCII text, names that sort
        # before and after each other only by their values.
        [("B", "2"), ("A", "z"), ("A", "b"), ("A", "b"), ("Empty", ""), ("Body", "Grüße 안녕")],
        [("Ab", "c"), ("A", "bc"), ("a", "B")],
    ],
)
def test_signature_matches_the_library(fields: list[tuple[str, str]]) -> None:
    form = MultiDictProxy(MultiDict(fields))
    url = "https://ivr.example.com/twilio/voice/runs/abc/1/gather?x=1&y=%20"
    expected = RequestValidator(TOKEN).compute_signature(url, form)
    assert sign(TOKEN.encode(), url, form) == expected
