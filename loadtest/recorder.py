"""HDR histograms of one shard: per target and metric, for the open interval and the run.

The hot path only records (`record_value`, equal values with one call); percentile
queries, which cost milliseconds in hdrh, happen when an interval closes, never per
request. A value outside the histogram's range is counted as clipped, never dropped
silently (`record_value` returns False there). Each shard owns its recorder; shards
and intervals merge with `add()`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from loadtest.metrics import ITL, METRICS, RequestRecord, derive, itl_gaps

SIGNIFICANT_DIGITS = 3


def new_histogram(highest_us: int) -> HdrHistogram:
    """A histogram from 1 us to HIGHEST_US at 3 significant digits."""
    return HdrHistogram(1, highest_us, SIGNIFICANT_DIGITS)


@dataclass
class TargetCounts:
    """Counters of one target in one interval (or the run)."""

    completed: int = 0
    failed: int = 0
    output_tokens: int = 0
    counted_tokens: int = 0  # requests whose tokens we counted (no server usage)
    errors: Counter[str] = field(default_factory=Counter)
    clipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: TargetCounts) -> None:
        """Merge OTHER into these counters."""
        self.completed += other.completed
        self.failed += other.failed
        self.output_tokens += other.output_tokens
        self.counted_tokens += other.counted_tokens
        self.errors.update(other.errors)
        self.clipped.update(other.clipped)


@dataclass(frozen=True)
class Interval:
    """A closed interval: encoded histograms and counters per target (immutable, picklable)."""

    start_ns: int
    end_ns: int
    histograms: dict[str, dict[str, bytes]]  # target -> metric -> hdrh encode()
    maxima_us: dict[str, dict[str, int]]
    counts: dict[str, TargetCounts]


class Recorder:
    """Histograms and counters for the targets of one shard."""

    def __init__(self, targets: Iterable[str], highest_us: int, start_ns: int) -> None:
        self.highest_us = highest_us
        self.targets = list(targets)
        self._open = {t: {m: new_histogram(highest_us) for m in METRICS} for t in self.targets}
        self._counts = {t: TargetCounts() for t in self.targets}
        self.total = {t: {m: new_histogram(highest_us) for m in METRICS} for t in self.targets}
        self.total_counts = {t: TargetCounts() for t in self.targets}
        self.interval_start_ns = start_ns

    def record(self, r: RequestRecord) -> None:
        """Record one finished request into the open interval."""
        hists = self._open[r.target]
        counts = self._counts[r.target]
        for metric, value in derive(r).items():
            if not hists[metric].record_value(max(1, value)):
                counts.clipped[metric] += 1
        if r.error is not None:
            counts.failed += 1
            counts.errors[r.error] += 1
            return
        counts.completed += 1
        counts.output_tokens += r.output_tokens
        counts.counted_tokens += r.tokens_counted
        itl = hists[ITL]
        for gap, n in itl_gaps(r):
            # A zero gap (two events in one read) is recorded as 1 us, the lowest bucket.
            if not itl.record_value(max(1, gap), n):
                counts.clipped[ITL] += n

    def roll(self, end_ns: int) -> Interval:
        """Close the open interval at END_NS: snapshot it, fold it into the run totals,
        and open the next one."""
        histograms: dict[str, dict[str, bytes]] = {}
        maxima: dict[str, dict[str, int]] = {}
        for t in self.targets:
            histograms[t] = {}
            maxima[t] = {}
            for m, h in self._open[t].items():
                if h.get_total_count():
                    histograms[t][m] = h.encode()
                    maxima[t][m] = h.get_max_value()
                    self.total[t][m].add(h)
                    # A new histogram costs ~0.1 ms; hdrh's reset() ~1 ms (a Python loop),
                    # and the roll runs on the event loop.
                    self._open[t][m] = new_histogram(self.highest_us)
            self.total_counts[t].add(self._counts[t])
        interval = Interval(self.interval_start_ns, end_ns, histograms, maxima, self._counts)
        self._counts = {t: TargetCounts() for t in self.targets}
        self.interval_start_ns = end_ns
        return interval
