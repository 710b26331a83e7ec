"""Latency by time of day from the run history: cells merge histograms, peak against
off-peak with a confidence interval, spikes, errors by hour, the steadier target."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hdrh.histogram import HdrHistogram

from loadtest.peak import Window
from loadtest.report import timeofday_md
from loadtest.tally import nonzero_buckets
from loadtest.timeofday import (
    CountRow,
    IntervalRow,
    Options,
    analyse,
    as_json,
    steadiest,
)

NY = ZoneInfo("America/New_York")


def _tally(rng: random.Random, median_ms: float, n: int = 60) -> dict[int, int]:
    h = HdrHistogram(1, 600_000_000, 3)
    for _ in range(n):
        h.record_value(int(rng.lognormvariate(0, 0.3) * median_ms * 1000))
    return nonzero_buckets(h)


def _week(peak_factor: dict[str, float]) -> tuple[list[IntervalRow], list[CountRow]]:
    """A week of hourly intervals from Monday 00:00 New York; peak hours slower."""
    rng = random.Random(5)
    start = datetime(2026, 11, 16, tzinfo=NY)
    rows, counts = [], []
    for h in range(7 * 24):
        t = start + timedelta(hours=h)
        peak = Window().holds(t)
        for target, factor in peak_factor.items():
            rows.append(IntervalRow(target, "ttft", t, _tally(rng, 400 * (factor if peak else 1))))
            counts.append(CountRow(target, t, 60, 6 if peak else 0, 3 if peak else 0))
    return rows, counts


def test_peak_window_ratio_ci_spikes_and_errors_by_hour() -> None:
    rows, counts = _week({"spiky": 2.0, "steady": 1.1})
    reports = analyse(rows, counts, rounds=200)
    spiky = reports["spiky"]
    e = spiky.peak["ttft"]
    assert e["peak_intervals"] == 5 * 8 and e["off_peak_intervals"] == 7 * 24 - 40
    assert e["ratio_p95"] == pytest.approx(2.0, rel=0.15)
    lo, hi = e["ratio_p95_ci95"]
    assert 1.0 < lo < 2.0 < hi  # excludes "no change", holds the injected ratio
    # the heatmap: a Wednesday 10:00 cell is peak, Saturday 10:00 is not
    wed, sat = spiky.cells["ttft"][(2, 10)], spiky.cells["ttft"][(5, 10)]
    assert wed["count"] == 60 and wed["p95"] > 1.5 * sat["p95"]
    assert len(spiky.cells["ttft"]) == 7 * 24
    assert spiky.spikes and all(
        Window().holds(datetime.fromisoformat(s["start"])) for s in spiky.spikes
    )
    assert spiky.errors_by_hour[10]["error_rate"] == pytest.approx(6 * 5 / (66 * 5 + 60 * 2))
    assert spiky.errors_by_hour[3]["http_429_rate"] == 0
    assert [t for t, _ in steadiest(reports)] == ["steady", "spiky"]
    data = as_json(reports, Options())
    assert data["steadiest_first"][0]["target"] == "steady"
    assert "Wed 10" in data["targets"]["spiky"]["cells"]["ttft"]
    md = timeofday_md.render(reports, Options())
    assert "| spiky | ttft |" in md and "Steadiest first" in md and "| Wed |" in md


def test_cells_merge_histograms_not_percentiles() -> None:
    # One cell holds a fast interval with many requests and a slow one with few: the
    # merged P50 is the fast one's, where averaging the two P50s would be far off.
    rng = random.Random(1)
    t = datetime(2026, 11, 18, 10, tzinfo=NY)
    rows = [
        IntervalRow("a", "ttft", t, _tally(rng, 100, n=900)),
        IntervalRow("a", "ttft", t + timedelta(minutes=5), _tally(rng, 1000, n=100)),
    ]
    cell = analyse(rows, [], rounds=10)["a"].cells["ttft"][(2, 10)]
    assert cell["count"] == 1000 and cell["p50"] < 150  # averaged P50s would be ~550
    assert datetime(2026, 11, 18, 15, tzinfo=UTC).astimezone(NY).hour == 10


def test_html_has_a_heatmap_per_target_and_bands() -> None:
    from loadtest.report import timeofday_html

    rows, counts = _week({"spiky": 2.0, "steady": 1.1})
    page = timeofday_html.render(analyse(rows, counts, rounds=50), Options())
    assert page.count("<table class='heat'>") == 2 and "<script" not in page
    assert page.count("<td style='background:hsl(") == 2 * 7 * 24  # every cell filled
    assert "spiky: TTFT by calendar hour" in page and 'class="series"' in page
    assert "Steadiest first (TTFT P95, peak / off-peak): steady" in page
