"""HDR histograms of one shard: per target and metric, for each interval and the run.

The hot path only tallies: a value is rounded down to its histogram bucket (the
lowest equivalent value, exactly as HdrHistogram would) and counted in a dict, a
fifth of the cost of hdrh's pure-Python `record_value`. When an interval closes,
each distinct value goes into the histograms with one `record_value(v, count)`, off
the per-request path; percentile queries happen only then. A value outside the
histogram's range is counted as clipped, never dropped silently (`record_value`
returns False there). Each shard owns its recorder; shards and intervals merge with
`add()`.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Iterable, Iterator

from hdrh.histogram import HdrHistogram

from loadtest import messages
from loadtest.hdr_codec import Encoder
from loadtest.metrics import ITL, METRICS, derive, itl_gaps
from loadtest.records import Interval, RequestRecord, StepTotals, Tally, TargetCounts
from loadtest.slo import Slo
from loadtest.tally import BUCKET_BITS, SIGNIFICANT_DIGITS, release
from loadtest.validators import OK

_SUCCEEDED = (None, OK)  # None: a chat request, not judged
FOLD_SLICE = 200  # distinct values recorded between two yields to the loop (~0.3 ms)


def new_histogram(highest_us: int) -> HdrHistogram:
    """A histogram from 1 us to HIGHEST_US at 3 significant digits."""
    return HdrHistogram(1, highest_us, SIGNIFICANT_DIGITS)


def _tally(d: dict[int, int], value: int, n: int = 1) -> None:
    v = value if value > 0 else 1  # a zero gap (two events in one read) is the lowest bucket
    shift = v.bit_length() - BUCKET_BITS
    if shift > 0:
        v = v >> shift << shift
    d[v] = d.get(v, 0) + n


class Recorder:
    """Histograms and counters for the targets of one shard."""

    def __init__(
        self,
        targets: Iterable[str],
        highest_us: int,
        start_ns: int,
        slo: Slo | None = None,
        fold: bool = True,
    ) -> None:
        self.highest_us = highest_us
        # False: a worker of several, whose intervals carry tallies only; the parent
        # builds the histograms once, from every worker's tallies added up (absorb).
        self.fold = fold
        self.slo = slo
        self.targets = list(targets)
        self._open: dict[str, Tally] = {t: _new_tally() for t in self.targets}
        self._counts = {t: TargetCounts() for t in self.targets}
        self.total = {t: {m: new_histogram(highest_us) for m in METRICS} for t in self.targets}
        self.total_counts = {t: TargetCounts() for t in self.targets}
        self.interval_start_ns = start_ns
        sizing = new_histogram(highest_us)
        self._encoder = Encoder(sizing.counts_len)
        release(sizing)
        # target -> its load steps' totals, for a stepped load (see keep_steps)
        self.steps: dict[str, list[StepTotals]] = {}
        self._step_ends: dict[str, list[int]] = {}

    def keep_steps(self, target: str, ends_ns: list[int]) -> None:
        """Keep TARGET's results per load step too; ENDS_NS: when each step but the last
        ends (perf ns). A request belongs to the step in force at its intended send time,
        so a step's latencies are those of the load it offered (the run's totals are kept
        as ever: this tallies a stepped target's requests twice, off the hot path of runs
        without steps)."""
        self._step_ends[target] = ends_ns
        self.steps[target] = [StepTotals(_new_tally()) for _ in range(len(ends_ns) + 1)]

    def record(
        self, r: RequestRecord, metrics: dict[str, int] | None = None, detail: str = ""
    ) -> None:
        """Record one finished request into the open interval (and its load step's
        totals); METRICS is derive(r), when the caller has it already; DETAIL, a failed
        one's error detail (the server's words, scrubbed)."""
        values = derive(r) if metrics is None else metrics
        # Goodput counts answers that did the task (when judged) and met the objectives.
        good = (
            r.error is None
            and self.slo is not None
            and r.outcome in _SUCCEEDED
            and self.slo.met(values)
        )
        _into(self._open[r.target], self._counts[r.target], r, values, detail, good)
        ends = self._step_ends.get(r.target)
        if ends is not None:
            step = self.steps[r.target][bisect_right(ends, r.intended_ns)]
            _into(step.tally, step.counts, r, values, detail, good)

    def roll(self, end_ns: int) -> Interval:
        """Close the open interval at END_NS: snapshot it, fold it into the run totals,
        and open the next one (all at once; see roll_async for the event loop)."""
        old, counts, start = self._swap(end_ns)
        histograms: dict[str, dict[str, bytes]] = {}
        maxima: dict[str, dict[str, int]] = {}
        for t in self.targets if self.fold else ():
            for _ in self._fold(t, old[t], counts[t], histograms, maxima):
                pass
        return Interval(start, end_ns, histograms, maxima, counts, old)

    async def roll_async(self, end_ns: int) -> Interval:
        """roll(), but the slow part (histograms from the tallies, ~1.5 us a distinct
        value, and encoding) is done in slices with the event loop let through between
        them, so streams being timed are not held up; requests finishing meanwhile go to
        the new interval. Cancelled midway, it loses the interval: run it to the end."""
        old, counts, start = self._swap(end_ns)
        histograms: dict[str, dict[str, bytes]] = {}
        maxima: dict[str, dict[str, int]] = {}
        for t in self.targets if self.fold else ():
            for _ in self._fold(t, old[t], counts[t], histograms, maxima):
                await asyncio.sleep(0)
        return Interval(start, end_ns, histograms, maxima, counts, old)

    def absorb(self, tallies: dict[str, Tally], counts: dict[str, TargetCounts]) -> None:
        """Add a worker's closed interval (its TALLIES and COUNTS, not folded) into the
        open one: what roll() then folds is exactly what recording every worker's
        requests here would have given."""
        for t, tally in tallies.items():
            into = self._open[t]
            for m, values in tally.items():
                have = into[m]
                for v, n in values.items():
                    have[v] = have.get(v, 0) + n
        for t, c in counts.items():
            self._counts[t].add(c)

    def _swap(self, end_ns: int) -> tuple[dict[str, Tally], dict[str, TargetCounts], int]:
        old, counts, start = self._open, self._counts, self.interval_start_ns
        self._open = {t: _new_tally() for t in self.targets}
        self._counts = {t: TargetCounts() for t in self.targets}
        self.interval_start_ns = end_ns
        return old, counts, start

    def _fold(
        self,
        t: str,
        tally: Tally,
        counts: TargetCounts,
        histograms: dict[str, dict[str, bytes]],
        maxima: dict[str, dict[str, int]],
    ) -> Iterator[None]:
        """Build target T's interval histograms and add them to the totals; yields
        between slices of about FOLD_SLICE values."""
        histograms[t] = {}
        maxima[t] = {}
        for m, values in tally.items():
            if not values:
                continue
            h = new_histogram(self.highest_us)
            for i, (v, n) in enumerate(values.items(), 1):
                if not h.record_value(v, n):
                    counts.clipped[m] += n
                if i % FOLD_SLICE == 0:
                    yield
            if h.get_total_count():
                histograms[t][m] = self._encoder.encode(h)  # hdrh's bytes, no new type
                maxima[t][m] = h.get_max_value()
                self.total[t][m].add(h)  # C: adds the count arrays
            release(h)
            yield
        self.total_counts[t].add(counts)


def _into(
    tally: Tally,
    counts: TargetCounts,
    r: RequestRecord,
    values: dict[str, int],
    detail: str,
    good: bool,
) -> None:
    """Count finished request R, whose metrics are VALUES, into TALLY and COUNTS."""
    if r.ratelimit:
        counts.ratelimit.update(r.ratelimit)
    if r.attempts:
        _attempts(counts, r)
    for metric, value in values.items():
        _tally(tally[metric], value)
    if r.error is not None:
        counts.failed += 1
        counts.errors[str(r.error)] += 1  # a plain str key: orjson refuses enum keys
        messages.count(counts.messages, str(r.error), detail)
        return
    counts.completed += 1
    counts.output_tokens += r.output_tokens
    counts.input_tokens += r.input_tokens
    counts.cached_tokens += r.cached_tokens
    counts.counted_tokens += r.tokens_counted
    counts.good += good
    if r.outcome is not None:
        counts.outcomes[r.outcome] += 1
    counts.zero_output += r.output_tokens == 0
    counts.reasoned += r.first_token_ns > 0 and r.first_output_ns != r.first_token_ns
    itl = tally[ITL]
    for gap, n in itl_gaps(r):
        _tally(itl, gap, n)


def _attempts(counts: TargetCounts, r: RequestRecord) -> None:
    counts.attempts += r.attempts
    counts.first_ok += r.first_ok
    if r.error is None:
        counts.served[r.served_by] += 1
    for name, i, o in r.billed:
        counts.bill(name, i, o)


def _new_tally() -> Tally:
    return {m: {} for m in METRICS}
