"""Process-wide tuning for a long-running server (not for tests or one-off commands)."""

from __future__ import annotations

import gc


def tune_garbage_collector() -> None:
    """Collect the youngest generation after 20,000 net allocations instead of 700, and the
    older ones less often. Reference cycles are still collected, in larger, rarer rounds.

    A webhook leaves many small, long-lived objects behind (the run cache's states), which
    every full collection scans again. Counted in the server of ``bench/webhooks.py``
    (2026-12-02, ~20,300 webhooks a run, on a busy machine): with the default thresholds
    400-600 collections, 3-5 of them full ones of 165-210 ms each (every request in flight
    waits them out), 1.4-2.4 s in all, ~70-120 µs a webhook; with these, 5-9 collections and
    0.2-0.3 s. ``gc.freeze()``, used here before, made no measurable difference on top of
    this and would keep any start-up object that later becomes cyclic garbage forever, so
    it is gone (bench/README.md, "SQLite writer and durable commits").
    """
    gc.set_threshold(20_000, 50, 100)
