"""Backoff: full jitter under an exponential bound with a cap."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from workflows.jobs import RetryPolicy


def test_the_bound_doubles_from_base_up_to_the_cap() -> None:
    policy = RetryPolicy()
    assert policy.base == timedelta(seconds=2)
    assert policy.cap == timedelta(hours=1)
    bounds = [policy.bound(attempt).total_seconds() for attempt in range(1, 14)]
    assert bounds[:5] == [2, 4, 8, 16, 32]
    assert bounds[-1] == 3600
    assert policy.bound(10_000) == timedelta(hours=1), "huge attempt counts do not overflow"


def test_delays_are_spread_over_the_whole_range() -> None:
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=60))
    rng = random.Random(7)
    delays = [policy.delay(3, rng).total_seconds() for _ in range(2000)]
    assert all(0 <= delay <= 40 for delay in delays)
    assert min(delays) < 2, "full jitter: from near zero..."
    assert max(delays) > 38, "...to near the bound"
    capped = [policy.delay(20, rng).total_seconds() for _ in range(200)]
    assert max(capped) <= 60


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy()
    first = [policy.delay(4, random.Random(1)) for _ in range(3)]
    assert first == [policy.delay(4, random.Random(1)) for _ in range(3)]


@pytest.mark.parametrize(
    ("base", "cap"),
    [(timedelta(0), timedelta(seconds=1)), (timedelta(seconds=10), timedelta(seconds=5))],
)
def test_nonsense_policies_are_refused(base: timedelta, cap: timedelta) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetryPolicy(base=base, cap=cap)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="count from 1"):
        RetryPolicy().bound(0)
