"""Process-wide tuning for a long-running server (not for tests or one-off commands)."""

from __future__ import annotations

import gc


def tune_garbage_collector() -> None:
    """Move everything alive after start-up out of the collector's sight, collect less often.

    A webhook leaves many small, long-lived objects behind (the run cache's states); with the
    default thresholds the collector kept rescanning them and the keypress benchmark's p99
    was ~100 ms, against ~22 ms with these settings (bench/webhooks.py, 2026-11-26).
    Reference cycles are still collected, just in larger, rarer rounds.
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
