"""`loadtest check`, the pure part: the latest probe runs judged against the same hour
of the week in the stored history.

An hour's TTFT or E2E P95 is an alert when it is FACTOR times (default 1.5) the P95 of
the same weekday and hour over the earlier history, and the bootstrap 95% interval of
that ratio excludes 1. The off-peak P95 of the week before is shown beside it, for
context only: a peak hour is slow against off-peak every day, and is judged against
its own hour. An error rate or 429 rate is an alert when it rose by RATE_JUMP (default
5 points) over the same hour's, with a 95% interval of the rise above 0.

The bootstrap resamples requests (tally.bootstrap_ci_requests): an hour holds one or a
few probes, too few intervals to resample intervals. It does not see week-to-week
variation, which the factor stands for: a ratio under it is never an alert however
narrow its interval.

Reading the store is loadtest.timeofday.load_intervals; this module gets rows and
returns findings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from loadtest.peak import DAYS, Window
from loadtest.probes import Cell, Probe, cell_of
from loadtest.tally import (
    BOOTSTRAP_ROUNDS,
    bootstrap_ci_requests,
    merge_tallies,
    tally_percentiles,
)
from loadtest.timeofday import CountRow, IntervalRow

LATENCY = ("ttft", "e2e")
RATES = ("error_rate", "http_429_rate")
Z95 = 1.959964


@dataclass(frozen=True)
class CheckOptions:
    """What counts as worse than usual."""

    factor: float = 1.5  # P95 this many times the same hour's usual, or more
    rate_jump: float = 0.05  # an error or 429 rate this much above the usual, or more
    min_requests: int = 10  # a side with fewer is not judged ("too few")
    peak: Window = field(default_factory=Window)  # the rest is the off-peak baseline shown beside
    rounds: int = BOOTSTRAP_ROUNDS


@dataclass
class Finding:
    """One target's one metric over one hour of the week in the judged span."""

    target: str
    cell: Cell  # (weekday, hour) in the check's zone
    metric: str  # ttft, e2e (P95, ms), error_rate, http_429_rate (a share)
    verdict: str  # "alert", "ok", "no history", "too few"
    recent: float | None = None
    usual: float | None = None
    ratio: float | None = None  # latency: recent / usual; rates: recent - usual
    ci95: tuple[float, float] | None = None
    recent_requests: int = 0
    usual_requests: int = 0
    usual_weeks: int = 0  # distinct earlier weeks the usual comes from
    off_peak: float | None = None  # latency only: the history's off-peak P95
    ratio_off_peak: float | None = None

    @property
    def hour(self) -> str:
        return f"{DAYS[self.cell[0]]} {self.cell[1]:02d}:00"

    def line(self) -> str:
        """One line for the terminal."""
        head = f"{self.verdict.upper():10} {self.target} {self.hour} {_name(self.metric)}"
        if self.recent is None:
            return f"{head}: no requests"
        if self.metric in RATES:
            now = f"{self.recent:.1%}"
            if self.usual is None:
                return f"{head} {now}: {self._no_usual()}"
            return (
                f"{head} {now}, usual {self.usual:.1%} "
                f"({self.recent_requests} vs {self.usual_requests} requests)"
            )
        now = f"{self.recent:,.0f} ms"
        context = (
            f"; {self.ratio_off_peak:.2f}x off-peak ({self.off_peak:,.0f} ms)"
            if self.ratio_off_peak is not None and self.off_peak is not None
            else ""
        )
        if self.usual is None or self.ratio is None:
            return f"{head} {now}: {self._no_usual()}{context}"
        ci = f", 95% CI {self.ci95[0]:.2f}-{self.ci95[1]:.2f}x" if self.ci95 else ""
        weeks = f"{self.usual_weeks} earlier week{'s' if self.usual_weeks != 1 else ''}"
        return (
            f"{head} {now} = {self.ratio:.2f}x its usual {self.usual:,.0f} ms{ci} "
            f"({weeks}, {self.usual_requests} requests){context}"
        )

    def brief(self) -> str:
        """'TTFT p95 777 ms (0.95x usual)', for a line of several findings."""
        if self.recent is None:
            return f"{_name(self.metric)} -"
        if self.metric in RATES:
            return f"{_name(self.metric)} {self.recent:.1%}"
        ratio = f" ({self.ratio:.2f}x usual)" if self.ratio is not None else ""
        return f"{_name(self.metric)} {self.recent:,.0f} ms{ratio}"

    def _no_usual(self) -> str:
        if self.verdict == "too few":
            return (
                f"too few requests to judge ({self.recent_requests} now, "
                f"{self.usual_requests} before)"
            )
        return "no earlier history for this hour of the week"

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["hour"] = self.hour
        d["cell"] = list(self.cell)
        d["ci95"] = list(self.ci95) if self.ci95 else None
        return d


@dataclass
class Outcome:
    """Everything one check found."""

    start: datetime
    end: datetime
    findings: list[Finding] = field(default_factory=list)
    # target -> saturated runs left out: in the judged span, and in its history
    left_out: dict[str, dict[str, int]] = field(default_factory=dict)
    judged_runs: dict[str, int] = field(default_factory=dict)

    @property
    def alerts(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "alert"]

    def as_json(self, opts: CheckOptions, tz: str) -> dict[str, Any]:
        return {
            "checked": {"from": self.start.isoformat(), "to": self.end.isoformat(), "tz": tz},
            "factor": opts.factor,
            "rate_jump": opts.rate_jump,
            "alert": bool(self.alerts),
            "alerts": [f.as_json() for f in self.alerts],
            "findings": [f.as_json() for f in self.findings],
            "judged_runs": self.judged_runs,
            "left_out_saturated": self.left_out,
        }


def _name(metric: str) -> str:
    return {
        "ttft": "TTFT p95",
        "e2e": "E2E p95",
        "error_rate": "error rate",
        "http_429_rate": "429 rate",
    }[metric]


def _week(t: datetime) -> tuple[int, int]:
    iso = t.isocalendar()
    return (iso.year, iso.week)


def judge(
    rows: list[IntervalRow],
    counts: list[CountRow],
    start: datetime,
    end: datetime,
    opts: CheckOptions = CheckOptions(),
) -> list[Finding]:
    """The findings of every target with intervals that start in (START, END] (aware
    datetimes in the check's zone, as the rows' times are), each hour of the week of
    the span judged against the rows of that hour up to START."""
    recent: dict[tuple[str, Cell, str], list[IntervalRow]] = defaultdict(list)
    same: dict[tuple[str, Cell, str], list[IntervalRow]] = defaultdict(list)
    off: dict[tuple[str, str], list[IntervalRow]] = defaultdict(list)
    for r in rows:
        key = (r.target, cell_of(r.start), r.metric)
        if start < r.start <= end:
            recent[key].append(r)
        elif r.start <= start:
            same[key].append(r)
            if not opts.peak.holds(r.start):
                off[(r.target, r.metric)].append(r)
    tallied: dict[tuple[str, Cell], tuple[list[CountRow], list[CountRow]]] = defaultdict(
        lambda: ([], [])
    )
    for c in counts:
        if c.start <= end:
            tallied[(c.target, cell_of(c.start))][0 if c.start > start else 1].append(c)
    out: list[Finding] = []
    for target, cell in sorted({(t, c) for t, c, _ in recent}):
        for metric in LATENCY:
            if (now := recent.get((target, cell, metric))) is not None:
                before = same.get((target, cell, metric), [])
                off_peak = off.get((target, metric), [])
                out.append(_latency(target, cell, metric, now, before, off_peak, opts))
        now_c, same_c = tallied.get((target, cell), ([], []))
        for metric in RATES:
            out.append(_rate(target, cell, metric, now_c, same_c, opts))
    return out


def _p95(parts: list[dict[int, int]]) -> tuple[dict[int, int], float | None, int]:
    merged = merge_tallies(parts)
    n = sum(merged.values())
    v = tally_percentiles(merged, [95.0]).get(95.0)
    return merged, (v / 1000 if v is not None else None), n


def _latency(
    target: str,
    cell: Cell,
    metric: str,
    now: list[IntervalRow],
    same: list[IntervalRow],
    off: list[IntervalRow],
    opts: CheckOptions,
) -> Finding:
    recent, p_now, n_now = _p95([r.tally for r in now])
    usual, p_usual, n_usual = _p95([r.tally for r in same])
    _, p_off, _ = _p95([r.tally for r in off])
    f = Finding(target, cell, metric, "no history", p_now, recent_requests=n_now)
    f.off_peak = p_off
    if p_off and p_now is not None:
        f.ratio_off_peak = p_now / p_off
    if not same:
        return f
    f.usual, f.usual_requests = p_usual, n_usual
    f.usual_weeks = len({_week(r.start) for r in same})
    if n_now < opts.min_requests or n_usual < opts.min_requests or not p_usual or p_now is None:
        f.verdict = "too few"
        return f
    f.ratio = p_now / p_usual
    f.ci95 = bootstrap_ci_requests(usual, recent, 95.0, opts.rounds)
    worse = f.ratio >= opts.factor and f.ci95 is not None and f.ci95[0] > 1
    f.verdict = "alert" if worse else "ok"
    return f


def _rate(
    target: str,
    cell: Cell,
    metric: str,
    now: Iterable[CountRow],
    same: Iterable[CountRow],
    opts: CheckOptions,
) -> Finding:
    def share(rows: Iterable[CountRow]) -> tuple[float | None, int]:
        rows = list(rows)
        total = sum(c.completed + c.failed for c in rows)
        bad = sum(c.failed if metric == "error_rate" else c.http_429 for c in rows)
        return (bad / total if total else None), total

    p_now, n_now = share(now)
    p_usual, n_usual = share(same)
    f = Finding(target, cell, metric, "no history", p_now, recent_requests=n_now)
    if p_now is None:
        f.verdict = "too few"
        return f
    if p_usual is None:
        return f
    f.usual, f.usual_requests = p_usual, n_usual
    f.usual_weeks = len({_week(c.start) for c in same})
    if n_now < opts.min_requests or n_usual < opts.min_requests:
        f.verdict = "too few"
        return f
    rise = p_now - p_usual
    # the rise's normal-approximation interval (two independent shares)
    se = math.sqrt(p_now * (1 - p_now) / n_now + p_usual * (1 - p_usual) / n_usual)
    f.ratio, f.ci95 = rise, (rise - Z95 * se, rise + Z95 * se)
    f.verdict = "alert" if rise >= opts.rate_jump and f.ci95[0] > 0 else "ok"
    return f


def left_out(probes: list[Probe], start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Per target: its runs whose client was saturated (left out of the rows), in the
    judged span and before it."""
    out: dict[str, dict[str, int]] = {}
    for p in probes:
        if p.saturated and p.start <= end:
            d = out.setdefault(p.target, {"judged": 0, "history": 0})
            d["judged" if p.start > start else "history"] += 1
    return out


def judged_runs(probes: list[Probe], start: datetime, end: datetime) -> dict[str, int]:
    """Per target: its kept runs in the judged span."""
    out: dict[str, int] = {}
    for p in probes:
        if not p.saturated and start < p.start <= end:
            out[p.target] = out.get(p.target, 0) + 1
    return out
