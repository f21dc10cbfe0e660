"""Run ids: unguessable, and ordered by when their runs started (index locality)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.runs import new_run_id


def test_run_ids_are_random_hex_that_sorts_by_start_time() -> None:
    start = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    ids = [new_run_id(start + timedelta(milliseconds=n)) for n in range(0, 5000, 10)]

    assert all(len(run_id) == 32 and int(run_id, 16) >= 0 for run_id in ids)
    assert ids == sorted(ids), "a later run sorts after an earlier one"
    same_moment = {new_run_id(start) for _ in range(1000)}
    assert len(same_moment) == 1000, "runs started in the same millisecond differ"
    assert len({run_id[12:] for run_id in same_moment}) == 1000
