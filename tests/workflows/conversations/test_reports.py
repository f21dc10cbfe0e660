"""The percentile the reports use interpolates between the ranks it reads, as PostgreSQL's
``percentile_cont`` does (checked against ``statistics.quantiles`` inclusive)."""

from __future__ import annotations

import statistics

import pytest

from workflows.conversations.reports import percentile


@pytest.mark.parametrize(
    "values",
    [[7.0], [1.0, 2.0], [30.0, 60.0, 120.0, 600.0], [5.0, 1.0, 9.0, 3.0, 3.0, 8.0, 2.0]],
)
def test_median_and_p90_match_linear_interpolation(values: list[float]) -> None:
    ranked = dict(enumerate(sorted(values)))
    assert percentile(ranked, len(values), 0.5) == pytest.approx(statistics.median(values))
    if len(values) > 1:
        tenths = statistics.quantiles(values, n=10, method="inclusive")
        assert percentile(ranked, len(values), 0.9) == pytest.approx(tenths[8])
    else:
        assert percentile(ranked, 1, 0.9) == values[0]
