"""A per-interval series stays bounded however long the run, and keeps its totals."""

from __future__ import annotations

import pytest

from loadtest.coarse import Coarse
from loadtest.records import Health, TargetCounts

Span = tuple[int, int, int]  # start, end, a count


def _then(a: Span, b: Span) -> Span:
    assert a[1] == b[0], "only neighbours are merged, earliest first"
    return (a[0], b[1], a[2] + b[2])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 4097])
@pytest.mark.parametrize("limit", [2, 3, 8, 64])
def test_a_series_keeps_its_totals_and_order_in_at_most_limit_points(n: int, limit: int) -> None:
    series: Coarse[Span] = Coarse(_then, limit)
    for i in range(n):
        series.add((i, i + 1, i))
    points = series.points()
    assert len(points) == len(series) <= limit
    assert series.intervals == n
    assert sum(p[2] for p in points) == sum(range(n))
    assert [p[0] for p in points[1:]] == [p[1] for p in points[:-1]]  # contiguous
    if points:
        assert (points[0][0], points[-1][1]) == (0, n)
        # every point but the newest covers `span` intervals
        assert all(p[1] - p[0] == series.span for p in points[:-1])
        assert points[-1][1] - points[-1][0] <= series.span


def test_a_limit_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="two points"):
        Coarse(_then, 1)


def test_health_points_keep_the_worst_lag_and_the_mean_cpu() -> None:
    series: Coarse[Health] = Coarse(Health.then, 4)
    for i in range(1, 13):
        series.add(Health(i, loop_lag_max_ms=float(i), loop_lag_p99_ms=i / 2, cpu_percent=10.0 * i))
    points = series.points()
    assert sum(p.intervals for p in points) == 12
    assert max(p.loop_lag_max_ms for p in points) == 12.0
    weighted = sum(p.cpu_percent * p.intervals for p in points) / 12
    assert weighted == pytest.approx(65.0)  # the mean of 10..120


def test_merged_counts_add_up_and_leave_their_parts_alone() -> None:
    a = {"x": TargetCounts(completed=2, failed=1)}
    a["x"].errors["http_5xx"] = 1
    a["x"].ratelimit["retry-after"] = "1"
    b = {"x": TargetCounts(completed=3), "y": TargetCounts(failed=4)}
    b["x"].ratelimit["retry-after"] = "2"
    m = TargetCounts.merged(a, b)
    assert (m["x"].completed, m["x"].failed, m["y"].failed) == (5, 1, 4)
    assert m["x"].errors == {"http_5xx": 1} and m["x"].ratelimit == {"retry-after": "2"}
    assert a["x"].completed == 2 and b["x"].completed == 3  # untouched
