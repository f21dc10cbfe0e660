"""The post-call SMS benchmark's own helpers: caller numbers, matching texts to callbacks.

No timing here: the benchmark itself is ``python -m bench.texts`` (see bench/README.md).
"""

from __future__ import annotations

import pytest

from bench.texts import (
    MAX_CALLERS,
    Arrival,
    Callers,
    caller_number,
    expected_text,
    lag_trend,
    match_texts,
)
from workflows.phones import normalize_number


def test_caller_numbers_are_distinct_valid_numbers() -> None:
    callers = Callers()
    calls = callers.take(3) + callers.take(2)
    numbers = [call.caller for call in calls]
    assert len(set(numbers)) == 5
    assert len({call.sid for call in calls}) == 5
    for number in numbers:
        assert normalize_number(number) == number


def test_caller_numbers_stop_at_the_limit() -> None:
    assert normalize_number(caller_number(MAX_CALLERS - 1)) == caller_number(MAX_CALLERS - 1)
    with pytest.raises(ValueError, match="out of"):
        caller_number(MAX_CALLERS)


def test_texts_are_matched_to_callbacks_in_the_order_sent() -> None:
    a, b, c = "+14152000000", "+14152000001", "+14152000002"
    sent_at = {a: 10.0, b: 10.5, c: 11.0}
    arrivals = [
        Arrival(b, expected_text(b), 11.0),
        Arrival(a, expected_text(a), 12.0),
        Arrival(c, expected_text(c), 11.5),
    ]
    delivery = match_texts(sent_at, arrivals)
    assert delivery.lags == (2.0, 0.5, 0.5)
    assert delivery.last_at == 12.0
    assert delivery.errors == 0


def test_missing_doubled_unexpected_and_wrong_texts_are_errors() -> None:
    a, b, c = "+14152000000", "+14152000001", "+14152000002"
    arrivals = [
        Arrival(a, expected_text(a), 1.0),
        Arrival(a, expected_text(a), 2.0),
        Arrival(b, "something else", 1.5),
        Arrival("+14159999999", "stray", 1.0),
    ]
    delivery = match_texts({a: 0.0, b: 0.0, c: 0.0}, arrivals)
    assert delivery.lags == (1.0, 1.5)  # only the first text of a counts
    assert (delivery.missing, delivery.duplicates) == (1, 1)
    assert (delivery.unexpected, delivery.wrong_body) == (1, 1)
    assert delivery.errors == 4


def test_lag_trend_compares_the_first_and_last_tenth() -> None:
    assert lag_trend([]) == (0.0, 0.0)
    steady = [0.1] * 50
    assert lag_trend(steady) == (0.1, 0.1)
    growing = [i / 10 for i in range(100)]
    early, late = lag_trend(growing)
    assert early == pytest.approx(0.45)
    assert late == pytest.approx(9.45)
