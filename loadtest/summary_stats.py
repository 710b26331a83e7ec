"""A metric's statistics and a window's rates, as summary.json writes them (pure): for
the run's totals, its load steps and a killed run's rebuild alike."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

from loadtest.schema import MetricStats, Rates
from loadtest.tally import mean_stddev, nonzero_buckets, tally_percentiles

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def stats(h: HdrHistogram, scale: float, unit: str) -> MetricStats:
    """count, mean, percentiles and max of H in UNIT, each value divided by SCALE."""
    if h.get_total_count() == 0:
        return {"unit": unit, "count": 0}
    return tally_stats(nonzero_buckets(h), scale, unit)


def tally_stats(tally: dict[int, int], scale: float, unit: str) -> MetricStats:
    """stats() of the values of TALLY (bucket -> count, hdrh's buckets)."""
    n = sum(tally.values())
    if n == 0:
        return {"unit": unit, "count": 0}
    at = tally_percentiles(tally, (*PERCENTILES, 100.0))

    def r(v: float) -> float:
        return round(v / scale, 3)

    return {
        "unit": unit,
        "count": n,
        "mean": r(mean_stddev(tally)[0]),
        "p50": r(at[50.0]),
        "p90": r(at[90.0]),
        "p95": r(at[95.0]),
        "p99": r(at[99.0]),
        "p99_9": r(at[99.9]),
        "max": r(at[100.0]),
    }


def rates_of(
    completed: int,
    failed: int,
    went_out: int,
    output_tokens: int,
    window_s: float,
    good: int | None = None,
) -> Rates:
    """The rates block of requests sent in a measured window of WINDOW_S seconds (every
    one that completed counts, also in the drain): COMPLETED and FAILED of the WENT_OUT
    that went out, per second of it. Zeros when the window is empty (a target stopped
    in its warm-up). GOOD: the completed ones within the run's [slo], when it has one."""
    per_s = 1 / window_s if window_s > 0 else 0.0
    recorded = completed + failed
    rates: Rates = {
        "requests_per_s": round(completed * per_s, 3),
        "output_tokens_per_s": round(output_tokens * per_s, 3),
        "error_rate": round(failed / recorded, 5) if recorded else 0.0,
        "window_s": round(window_s, 3),
        "sent_per_s": round(went_out * per_s, 3),
    }
    if good is not None:
        rates["goodput_per_s"] = round(good * per_s, 3)
    return rates
