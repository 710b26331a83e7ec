"""Latency by time of day, from the run history: hour-by-weekday cells, peak against
off-peak, spikes, and error rates by hour.

Percentiles of a cell or a window come from merging its intervals' histograms (as
{bucket: count} tallies), never from averaging percentiles. Times are bucketed in the
chosen zone. Pure apart from `load_intervals`, which reads the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hdrh.histogram import HdrHistogram

from loadtest.config_reader import parse_duration
from loadtest.instants import format_instant, parse_instant
from loadtest.report.compare import bootstrap_ci
from loadtest.tally import merge_tallies, nonzero_buckets, tally_percentiles

METRICS = ("ttft", "e2e", "itl")
PS = (50.0, 95.0, 99.0)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Window:
    """Peak hours: these weekdays (0 = Monday), from start_hour to end_hour (exclusive)."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    start_hour: int = 9
    end_hour: int = 17

    def describe(self) -> str:
        """'Mon, Tue, Wed, Thu, Fri 09:00-17:00'."""
        days = ", ".join(DAYS[d] for d in self.days)
        return f"{days} {self.start_hour:02d}:00-{self.end_hour:02d}:00"

    def holds(self, t: datetime) -> bool:
        return t.weekday() in self.days and self.start_hour <= t.hour < self.end_hour


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


def parse_since(text: str, now: datetime) -> datetime:
    """'7d', '12h', '30m' before NOW, or an ISO instant."""
    seconds = parse_duration(text)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    return parse_instant(text)


def load_intervals(
    db: sqlite3.Connection,
    tz: ZoneInfo,
    since: datetime | None = None,
    targets: Iterable[str] = (),
) -> tuple[list[IntervalRow], list[CountRow]]:
    """The stored intervals (histograms as tallies) and counters, times in TZ."""
    wanted = set(targets)
    floor = format_instant(since) if since else ""
    rows = []
    for target, metric, start, blob in db.execute(
        "SELECT r.target, h.metric, h.start_utc, h.histogram FROM interval_histograms h"
        " JOIN runs r ON r.id = h.run_id WHERE h.start_utc >= ? ORDER BY h.start_utc",
        (floor,),
    ):
        if metric in METRICS and (not wanted or target in wanted):
            h = HdrHistogram.decode(blob)
            rows.append(
                IntervalRow(target, metric, parse_instant(start).astimezone(tz), nonzero_buckets(h))
            )
    counts = [
        CountRow(target, parse_instant(start).astimezone(tz), completed, failed, h429)
        for target, start, completed, failed, h429 in db.execute(
            "SELECT r.target, c.start_utc, c.completed, c.failed, c.http_429 FROM interval_counts c"
            " JOIN runs r ON r.id = c.run_id WHERE c.start_utc >= ? ORDER BY c.start_utc",
            (floor,),
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
    window: Window = Window(),
    spike_factor: float = 2.0,
    rounds: int = 500,
) -> dict[str, TargetReport]:
    """The report of every target in ROWS."""
    out: dict[str, TargetReport] = {}
    for target in sorted({r.target for r in rows}):
        rep = out[target] = TargetReport()
        for metric in METRICS:
            mine = [r for r in rows if r.target == target and r.metric == metric]
            if not mine:
                continue
            cells: dict[tuple[int, int], list[dict[int, int]]] = {}
            for r in mine:
                cells.setdefault((r.start.weekday(), r.start.hour), []).append(r.tally)
            rep.cells[metric] = {k: _stats(merge_tallies(v)) for k, v in sorted(cells.items())}
            hours: dict[datetime, list[dict[int, int]]] = {}
            for r in mine:
                hours.setdefault(r.start.replace(minute=0, second=0, microsecond=0), []).append(
                    r.tally
                )
            rep.bands[metric] = [(k, _stats(merge_tallies(v))) for k, v in sorted(hours.items())]
            peak = [r.tally for r in mine if window.holds(r.start)]
            off = [r.tally for r in mine if not window.holds(r.start)]
            entry: dict[str, Any] = {
                "peak": _stats(merge_tallies(peak)) if peak else {},
                "off_peak": _stats(merge_tallies(off)) if off else {},
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
            if metric == "ttft" and off:
                base = tally_percentiles(merge_tallies(off), [95.0]).get(95.0)
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


def steadiest(reports: dict[str, TargetReport], metric: str = "ttft") -> list[tuple[str, float]]:
    """Targets by their peak/off-peak P95 ratio, the one that degrades least first."""
    ranked = [
        (t, r.peak[metric]["ratio_p95"])
        for t, r in reports.items()
        if metric in r.peak and r.peak[metric].get("ratio_p95") is not None
    ]
    return sorted(ranked, key=lambda x: x[1])


def as_json(reports: dict[str, TargetReport], tz: str, window: Window) -> dict[str, Any]:
    """The report as plain data (cells keyed 'Mon 09')."""
    return {
        "timezone": tz,
        "peak_window": {
            "days": [DAYS[d] for d in window.days],
            "hours": [window.start_hour, window.end_hour],
        },
        "steadiest_first": [{"target": t, "ttft_p95_ratio": r} for t, r in steadiest(reports)],
        "targets": {
            t: {
                "cells": {
                    m: {f"{DAYS[d]} {h:02d}": v for (d, h), v in cells.items()}
                    for m, cells in r.cells.items()
                },
                "peak_vs_off_peak": r.peak,
                "spikes": r.spikes,
                "errors_by_hour": {f"{h:02d}": v for h, v in r.errors_by_hour.items()},
            }
            for t, r in reports.items()
        },
    }


def _ms(stats: dict[str, float], key: str) -> str:
    v = stats.get(key)
    return "-" if v is None else f"{v:,.0f}"


def peak_rows(reports: dict[str, TargetReport], keys: tuple[str, ...]) -> list[list[str]]:
    """Per target and metric: target, metric, off-peak and peak values of KEYS (ms), the
    P95 ratio and its 95% interval, as text."""
    rows = []
    for t, r in reports.items():
        for metric, e in r.peak.items():
            ratio, ci = e.get("ratio_p95"), e.get("ratio_p95_ci95")
            rows.append(
                [
                    t,
                    metric,
                    *(_ms(e["off_peak"], k) for k in keys),
                    *(_ms(e["peak"], k) for k in keys),
                    "-" if ratio is None else f"{ratio:.2f}x",
                    "-" if not ci else f"{ci[0]:.2f}x-{ci[1]:.2f}x",
                ]
            )
    return rows


def to_markdown(reports: dict[str, TargetReport], tz: str, window: Window) -> str:
    """Peak against off-peak per target, the ranking, and each target's P95 heatmap."""
    out = [
        "## loadtest: latency by time of day",
        "",
        f"Zone {tz}; peak = {window.describe()}.",
        "",
        "| target | metric | off-peak p50 | p95 | peak p50 | p95 | P95 ratio | 95% CI |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    out += ["| " + " | ".join(row) + " |" for row in peak_rows(reports, ("p50", "p95"))]
    ranked = steadiest(reports)
    if ranked:
        out += [
            "",
            "Steadiest first (TTFT P95 peak / off-peak): "
            + ", ".join(f"{t} {r:.2f}x" for t, r in ranked)
            + ".",
        ]
    for t, r in reports.items():
        cells = r.cells.get("ttft", {})
        if not cells:
            continue
        hours = sorted({h for _, h in cells})
        out += [
            "",
            f"### {t}: TTFT P95 (ms) by hour",
            "",
            "| day | " + " | ".join(f"{h:02d}" for h in hours) + " |",
        ]
        out.append("| --- |" + " ---: |" * len(hours))
        for d in range(7):
            if any((d, h) in cells for h in hours):
                row = [f"{cells[(d, h)]['p95']:,.0f}" if (d, h) in cells else "" for h in hours]
                out.append(f"| {DAYS[d]} | " + " | ".join(row) + " |")
        if r.spikes:
            out += [
                "",
                f"Spikes (TTFT P95 over 2x off-peak): {len(r.spikes)}, worst "
                + max(r.spikes, key=lambda s: s["p95_ms"])["start"]
                + ".",
            ]
    out.append("")
    return "\n".join(out)
