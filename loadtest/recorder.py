"""HDR histograms of one shard: per target and metric, for the open interval and the run.

The hot path only records (`record_value`, equal values with one call); percentile
queries, which cost milliseconds in hdrh, happen when an interval closes, never per
request. A value outside the histogram's range is counted as clipped, never dropped
silently (`record_value` returns False there). Each shard owns its recorder; shards
and intervals merge with `add()`.
"""

from __future__ import annotations

import asyncio
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
    ratelimit: dict[str, str] = field(default_factory=dict)  # latest rate-limit headers seen

    def add(self, other: TargetCounts) -> None:
        """Merge OTHER into these counters."""
        self.completed += other.completed
        self.failed += other.failed
        self.output_tokens += other.output_tokens
        self.counted_tokens += other.counted_tokens
        self.errors.update(other.errors)
        self.clipped.update(other.clipped)
        self.ratelimit.update(other.ratelimit)


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
        # Fresh histograms for the next interval, made ahead so a roll only swaps dicts
        # (hdrh's reset() is a ~1 ms Python loop; a new histogram ~0.1 ms).
        self._spares: list[dict[str, HdrHistogram]] = []

    def record(self, r: RequestRecord) -> None:
        """Record one finished request into the open interval."""
        hists = self._open[r.target]
        counts = self._counts[r.target]
        if r.ratelimit:
            counts.ratelimit.update(r.ratelimit)
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
        and open the next one (all at once; see roll_async for the event loop)."""
        old, counts, start = self._swap(end_ns)
        histograms: dict[str, dict[str, bytes]] = {}
        maxima: dict[str, dict[str, int]] = {}
        for t in self.targets:
            self._fold(t, old[t], counts[t], histograms, maxima)
        return Interval(start, end_ns, histograms, maxima, counts)

    async def roll_async(self, end_ns: int) -> Interval:
        """roll(), but the slow part (encode and merge, ~0.5 ms a histogram) is done one
        target at a time with the event loop let through between them, so streams being
        timed are not held up; requests finishing meanwhile go to the new interval."""
        old, counts, start = self._swap(end_ns)
        histograms: dict[str, dict[str, bytes]] = {}
        maxima: dict[str, dict[str, int]] = {}
        for t in self.targets:
            self._fold(t, old[t], counts[t], histograms, maxima)
            await asyncio.sleep(0)
        for _ in self.targets:  # spares for the next swap, made off the boundary
            self._spares.append({m: new_histogram(self.highest_us) for m in METRICS})
            await asyncio.sleep(0)
        return Interval(start, end_ns, histograms, maxima, counts)

    def _swap(
        self, end_ns: int
    ) -> tuple[dict[str, dict[str, HdrHistogram]], dict[str, TargetCounts], int]:
        old, counts, start = self._open, self._counts, self.interval_start_ns
        self._open = {
            t: (
                self._spares.pop()
                if self._spares
                else {m: new_histogram(self.highest_us) for m in METRICS}
            )
            for t in self.targets
        }
        self._counts = {t: TargetCounts() for t in self.targets}
        self.interval_start_ns = end_ns
        return old, counts, start

    def _fold(
        self,
        t: str,
        hists: dict[str, HdrHistogram],
        counts: TargetCounts,
        histograms: dict[str, dict[str, bytes]],
        maxima: dict[str, dict[str, int]],
    ) -> None:
        histograms[t] = {}
        maxima[t] = {}
        for m, h in hists.items():
            if h.get_total_count():
                histograms[t][m] = h.encode()
                maxima[t][m] = h.get_max_value()
                self.total[t][m].add(h)
        self.total_counts[t].add(counts)
