"""When a failed job runs again: exponential backoff with full jitter.

Attempt ``n`` (counted from 1) failed: the next one is due after a random delay between 0 and
``min(cap, base * 2 ** (n - 1))``. Full jitter spreads retries of jobs that failed together (a
provider outage) instead of sending them back in waves. After the job's ``max_attempts`` it is
dead instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

_MAX_EXPONENT = 64  # 2**64 times any sensible base is far beyond any cap


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff between attempts of a failing job."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.base <= timedelta(0):
            raise ValueError(f"base must be positive, got {self.base}")
        if self.cap < self.base:
            raise ValueError(f"cap ({self.cap}) must be at least base ({self.base})")

    def bound(self, attempt: int) -> timedelta:
        """The longest delay after failed attempt ``attempt`` (1 for the first)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        exponent = min(attempt - 1, _MAX_EXPONENT)
        seconds = min(self.cap.total_seconds(), self.base.total_seconds() * 2**exponent)
        return timedelta(seconds=seconds)

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """A random delay in ``[0, bound(attempt)]`` before the next attempt."""
        return timedelta(seconds=rng.uniform(0, self.bound(attempt).total_seconds()))
