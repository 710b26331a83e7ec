"""Latency by time of day, from the run history: hour-by-weekday cells, peak against
off-peak, spikes, and error rates by hour.

Percentiles of a cell or a window come from merging its intervals' histograms (as
{bucket: count} tallies), never from averaging percentiles. Times are bucketed in the
chosen zone. Pure apart from `load_intervals`, which reads the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hdrh.histogram import HdrHistogram

from loadtest.instants import format_instant, parse_instant
from loadtest.peak import DAYS, Window
from loadtest.probes import Trust, cell_of
from loadtest.tally import (
    BOOTSTRAP_ROUNDS,
    bootstrap_ci,
    merge_tallies,
    nonzero_buckets,
    release,
    tally_percentiles,
)

METRICS = ("ttft", "e2e", "itl")
PS = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class Options:
    """How a time-of-day report reads the history."""

    tz: str = "America/New_York"
    window: Window = field(default_factory=Window)  # the peak window set against the rest
    spike_factor: float = 2.0  # an interval is a spike above this many times the baseline
    slow_factor: float = 1.5  # an hour is slow above this many times the median hour
    heatmaps: tuple[str, ...] = ("p95",)  # which percentiles get a weekday-by-hour map


@dataclass
class IntervalRow:
    """One stored interval of one target and metric."""

    target: str
    metric: str
    start: datetime  # in the report's zone
    tally: dict[int, int]


@dataclass
class CountRow:
    """One stored interval's counters."""

    target: str
    start: datetime
    completed: int
    failed: int
    http_429: int


@dataclass
class TargetReport:
    """Everything the time-of-day report says of one target."""

    cells: dict[str, dict[tuple[int, int], dict[str, float]]] = field(default_factory=dict)
    peak: dict[str, dict[str, Any]] = field(default_factory=dict)
    spikes: list[dict[str, Any]] = field(default_factory=list)
    # metric -> (calendar hour, stats) in time order: the bands over calendar time
    bands: dict[str, list[tuple[datetime, dict[str, float]]]] = field(default_factory=dict)
    errors_by_hour: dict[int, dict[str, float]] = field(default_factory=dict)
    # "weekdays" / "weekend" -> hours whose merged TTFT P95 is slow_factor times the
    # median hour's or more: where the peak really is, found rather than assumed
    slow_hours: dict[str, list[int]] = field(default_factory=dict)
    median_hour_p95_ms: float | None = None
    trust: Trust = field(default_factory=Trust)  # the probes behind it (loadtest.probes)


def load_intervals(
    db: sqlite3.Connection,
    tz: ZoneInfo,
    since: datetime | None = None,
    targets: Iterable[str] = (),
    include_saturated: bool = False,
    keep: Callable[[str, datetime], bool] | None = None,
) -> tuple[list[IntervalRow], list[CountRow]]:
    """The stored intervals (histograms as tallies) and counters, times in TZ; those of
    runs whose client was saturated only with INCLUDE_SATURATED. KEEP(metric, start):
    which histograms to decode (all when None; decoding is most of the time here)."""
    wanted = set(targets)
    floor = format_instant(since) if since else ""
    saturated_too = 1 if include_saturated else 0
    rows = []
    for target, metric, start, blob in db.execute(
        "SELECT r.target, h.metric, h.start_utc, h.histogram FROM interval_histograms h"
        " JOIN runs r ON r.id = h.run_id WHERE h.start_utc >= ?"
        " AND (r.client_saturated = 0 OR ?) ORDER BY h.start_utc",
        (floor, saturated_too),
    ):
        if metric in METRICS and (not wanted or target in wanted):
            at = parse_instant(start).astimezone(tz)
            if keep is not None and not keep(metric, at):
                continue
            h = HdrHistogram.decode(blob)
            rows.append(IntervalRow(target, metric, at, nonzero_buckets(h)))
            release(h)  # weeks of intervals: each freed at once, not by the collector
    counts = [
        CountRow(target, parse_instant(start).astimezone(tz), completed, failed, h429)
        for target, start, completed, failed, h429 in db.execute(
            "SELECT r.target, c.start_utc, c.completed, c.failed, c.http_429 FROM interval_counts c"
            " JOIN runs r ON r.id = c.run_id WHERE c.start_utc >= ?"
            " AND (r.client_saturated = 0 OR ?) ORDER BY c.start_utc",
            (floor, saturated_too),
        )
        if not wanted or target in wanted
    ]
    return rows, counts


def _stats(tally: dict[int, int]) -> dict[str, float]:
    v = tally_percentiles(tally, PS)
    return {
        "count": float(sum(tally.values())),
        **{f"p{p:g}": v[p] / 1000 for p in PS if p in v},
    }


def analyse(
    rows: list[IntervalRow],
    counts: list[CountRow],
    opts: Options = Options(),
    rounds: int = BOOTSTRAP_ROUNDS,
) -> dict[str, TargetReport]:
    """The report of every target in ROWS."""
    window, spike_factor = opts.window, opts.spike_factor
    out: dict[str, TargetReport] = {}
    for target in sorted({r.target for r in rows}):
        rep = out[target] = TargetReport()
        for metric in METRICS:
            mine = [r for r in rows if r.target == target and r.metric == metric]
            if not mine:
                continue
            cells: dict[tuple[int, int], list[dict[int, int]]] = {}
            for r in mine:
                cells.setdefault(cell_of(r.start), []).append(r.tally)
            merged = {k: merge_tallies(v) for k, v in sorted(cells.items())}
            rep.cells[metric] = {k: _stats(v) for k, v in merged.items()}
            hours: dict[datetime, list[dict[int, int]]] = {}
            for r in mine:
                hours.setdefault(r.start.replace(minute=0, second=0, microsecond=0), []).append(
                    r.tally
                )
            rep.bands[metric] = [(k, _stats(merge_tallies(v))) for k, v in sorted(hours.items())]
            peak = [r.tally for r in mine if window.holds(r.start)]
            off = [r.tally for r in mine if not window.holds(r.start)]
            off_merged = merge_tallies(off)
            entry: dict[str, Any] = {
                "peak": _stats(merge_tallies(peak)) if peak else {},
                "off_peak": _stats(off_merged) if off else {},
                "peak_intervals": len(peak),
                "off_peak_intervals": len(off),
            }
            if peak and off:
                for key in ("p50", "p95", "p99"):
                    a, b = entry["off_peak"].get(key), entry["peak"].get(key)
                    entry[f"ratio_{key}"] = b / a if a and b else None
                ci = bootstrap_ci(off, peak, 95.0, rounds)
                entry["ratio_p95_ci95"] = [1 + ci[0], 1 + ci[1]] if ci else None
            rep.peak[metric] = entry
            if metric == "ttft":
                _find_slow_hours(rep, merged, opts.slow_factor)
            if metric == "ttft" and off:
                base = tally_percentiles(off_merged, [95.0]).get(95.0)
                for r in mine:
                    p95 = tally_percentiles(r.tally, [95.0]).get(95.0)
                    if base and p95 and p95 > spike_factor * base:
                        rep.spikes.append(
                            {
                                "start": r.start.isoformat(timespec="seconds"),
                                "p95_ms": p95 / 1000,
                                "times_baseline": p95 / base,
                            }
                        )
        by_hour: dict[int, list[CountRow]] = {}
        for c in counts:
            if c.target == target:
                by_hour.setdefault(c.start.hour, []).append(c)
        for hour, cs in sorted(by_hour.items()):
            total = sum(c.completed + c.failed for c in cs)
            rep.errors_by_hour[hour] = {
                "requests": float(total),
                "error_rate": sum(c.failed for c in cs) / total if total else 0.0,
                "http_429_rate": sum(c.http_429 for c in cs) / total if total else 0.0,
            }
    return out


def _find_slow_hours(
    rep: TargetReport, cells: dict[tuple[int, int], dict[int, int]], factor: float
) -> None:
    """From the merged (weekday, hour) cells: weekday and weekend hours."""
    by: dict[tuple[str, int], list[dict[int, int]]] = {}
    for (day, hour), tally in cells.items():
        by.setdefault(("weekend" if day >= 5 else "weekdays", hour), []).append(tally)
    p95 = {k: tally_percentiles(merge_tallies(v), [95.0]).get(95.0, 0) for k, v in by.items()}
    if not p95:
        return
    ordered = sorted(p95.values())
    median = ordered[len(ordered) // 2]
    rep.median_hour_p95_ms = median / 1000
    for kind in ("weekdays", "weekend"):
        rep.slow_hours[kind] = sorted(
            h for (k, h), v in p95.items() if k == kind and v >= factor * median
        )


def steadiest(reports: dict[str, TargetReport], metric: str = "ttft") -> list[tuple[str, float]]:
    """Targets by their peak/off-peak P95 ratio, the one that degrades least first."""
    ranked = [
        (t, r.peak[metric]["ratio_p95"])
        for t, r in reports.items()
        if metric in r.peak and r.peak[metric].get("ratio_p95") is not None
    ]
    return sorted(ranked, key=lambda x: x[1])


def as_json(reports: dict[str, TargetReport], opts: Options) -> dict[str, Any]:
    """The report as plain data (cells keyed 'Mon 09')."""
    window = opts.window
    return {
        "timezone": opts.tz,
        "peak_window": {
            "days": [DAYS[d] for d in window.days],
            "hours": [window.start_hour, window.end_hour],
        },
        "spike_factor": opts.spike_factor,
        "slow_factor": opts.slow_factor,
        "steadiest_first": [{"target": t, "ttft_p95_ratio": r} for t, r in steadiest(reports)],
        "busy_machine": any(r.trust.busy() for r in reports.values()),
        "targets": {
            t: {
                "cells": {
                    m: {f"{DAYS[d]} {h:02d}": v for (d, h), v in cells.items()}
                    for m, cells in r.cells.items()
                },
                "peak_vs_off_peak": r.peak,
                "spikes": r.spikes,
                "slow_hours": r.slow_hours,
                "median_hour_ttft_p95_ms": r.median_hour_p95_ms,
                "errors_by_hour": {f"{h:02d}": v for h, v in r.errors_by_hour.items()},
                "probes": r.trust.probes,
                "probes_left_out": r.trust.left_out,
                "few_sample_cells": [f"{DAYS[d]} {h:02d}" for d, h in r.trust.few],
                "crowded_cells": [f"{DAYS[d]} {h:02d}" for d, h in r.trust.crowded],
            }
            for t, r in reports.items()
        },
    }
