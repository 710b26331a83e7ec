"""The statistics of loadtest, on histograms as tallies ({lowest value of a bucket:
count}): merging, percentiles, mean and deviation in plain Python, exactly as hdrh
computes them but without walking its ~20k counters one by one in Python (hdrh's own
iterators cost tens of ms a histogram); and the bootstraps that put confidence intervals
on ratios of percentiles: over intervals (run comparisons, the time-of-day report) and
over requests (loadtest check, which judges one hour's probes).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
from array import array
from collections import Counter
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

SIGNIFICANT_DIGITS = 3
BOOTSTRAP_ROUNDS = 500  # resamples; the 2.5% and 97.5% points settle well before

# Values below 2**BUCKET_BITS are exact; above, a bucket keeps the top BUCKET_BITS bits
# (with lowest value 1, hdrh's sub-bucket count is 2**BUCKET_BITS).
BUCKET_BITS = HdrHistogram(1, 2, SIGNIFICANT_DIGITS).sub_bucket_half_count_magnitude + 1


def highest(k: int) -> int:
    """The highest value of the bucket whose lowest value is K (hdrh's highest
    equivalent value)."""
    shift = k.bit_length() - BUCKET_BITS
    return k | ((1 << shift) - 1) if shift > 0 else k


def merge_tallies(
    parts: Iterable[dict[int, int]], into: dict[int, int] | None = None
) -> dict[int, int]:
    """The counts of PARTS added up, into INTO (a new dict when None): the same as
    merging the histograms they stand for."""
    out = {} if into is None else into
    for part in parts:
        for k, n in part.items():
            out[k] = out.get(k, 0) + n
    return out


def tally_percentiles(values: dict[int, int], ps: Iterable[float]) -> dict[float, int]:
    """hdrh's value at each percentile of PS, from a tally of bucket values (pure)."""
    if not values:
        return {}
    keys = sorted(values)
    # Cumulative counts and a bisection, in C: the live view asks this of the run-so-far
    # tallies (thousands of buckets) every interval, and a loop in Python held the
    # event loop for milliseconds each time.
    cumulative = list(itertools.accumulate(map(values.__getitem__, keys)))
    total = cumulative[-1]
    if not total:
        return {}
    out: dict[float, int] = {}
    for p in ps:
        # As hdrh: the first bucket whose cumulative count reaches the rounded rank; its
        # highest value (its lowest for p = 0).
        rank = max(1, int(min(p, 100.0) * total / 100 + 0.5))
        k = keys[min(bisect.bisect_left(cumulative, rank), len(keys) - 1)]
        out[p] = highest(k) if p else k
    return out


def release(h: HdrHistogram) -> None:
    """Let H be freed as soon as it is dropped. hdrh's histogram and its encoder point at
    each other, so a dropped one (its counts are 170 KB at our range) is garbage only
    the cyclic collector frees: during a run, with the collector frozen (loadtest.loop),
    every interval's histograms waited for the ten-minute full collection. Unpaired,
    reference counting frees them at once. H must not be encoded afterwards."""
    h.encoder.histogram = None


_NONZERO_BYTE = re.compile(rb"[^\x00]")


def nonzero_buckets(h: HdrHistogram) -> dict[int, int]:
    """{lowest value of the bucket: count} for every recorded bucket of H.

    hdrh's recorded-value iterator walks all ~20k counters in Python (~37 ms a
    histogram); a regex over the counters' bytes finds the few non-zero ones in C, only
    between the first and the last non-zero byte (found by strip, faster still)."""
    data = bytes(memoryview(h.counts).cast("B"))
    first, last = len(data) - len(data.lstrip(b"\x00")), len(data.rstrip(b"\x00"))
    found = _NONZERO_BYTE.finditer(data, first, last)
    words = sorted({m.start() // h.word_size for m in found})
    return {h.get_lowest_equivalent_value(h.get_value_from_index(i)): h.counts[i] for i in words}


def mean_stddev(tally: dict[int, int]) -> tuple[float, float]:
    """hdrh's get_mean_value() and get_stddev() of the histogram TALLY stands for (each
    bucket at its median equivalent value: lowest + half the bucket's width)."""
    total = sum(tally.values())
    if not total:
        return 0.0, 0.0
    points = [(k + ((highest(k) - k + 1) >> 1), n) for k, n in tally.items()]
    mean = sum(v * n for v, n in points) / total
    var = sum((v - mean) ** 2 * n for v, n in points) / total
    return mean, math.sqrt(var)


def percentile_steps(tally: dict[int, int], ticks: int) -> list[tuple[int, float, int]]:
    """(value, percentile level, count up to the value) at each step of hdrh's
    percentile iterator (`get_percentile_iterator(ticks)`) over the histogram TALLY
    stands for: the same steps."""
    total = sum(tally.values())
    out: list[tuple[int, float, int]] = []
    level, acc = 0.0, 0
    for k in sorted(tally):
        acc += tally[k]
        v = highest(k)
        if acc == total:  # the last bucket: a step at the level reached, then one at 100%
            out += [(v, level, acc), (v, 100.0, acc)]
            break
        while 100.0 * acc / total >= level:
            out.append((v, level, acc))
            # hdrh's python port, exactly: it does not floor the log as the Java one does
            level += 100.0 / (
                ticks * math.pow(2, math.log(100 / (100.0 - level)) / math.log(2) + 1)
            )
    return out


class Resampler:
    """Bootstrap resamples of a list of tallies (intervals), and a percentile of each
    resample: the same value as tally_percentiles(merge_tallies(resample)), faster.

    Each interval keeps its cumulative counts over the bucket values of all intervals. A
    resample counts how often each interval was drawn; its cumulative count at a bucket
    is then a weighted sum over the distinct intervals drawn, and the percentile's bucket
    is found by bisection: a few such sums instead of merging every bucket."""

    def __init__(self, parts: list[dict[int, int]]) -> None:
        self.keys = sorted(set().union(*parts))
        index = {k: i for i, k in enumerate(self.keys)}
        self.cums: list[array[int]] = []
        for part in parts:
            row = [0] * len(self.keys)
            for k, n in part.items():
                row[index[k]] = n
            self.cums.append(array("q", itertools.accumulate(row)))
        self.totals = [sum(part.values()) for part in parts]
        self._picks = range(len(parts))

    def percentile(self, rng: random.Random, p: float) -> int | None:
        """Percentile P of one resample (drawn with RNG, as rng.choices(parts) would)."""
        drawn = [
            (self.cums[i], m)
            for i, m in Counter(rng.choices(self._picks, k=len(self._picks))).items()
        ]
        total = sum(cum[-1] * m for cum, m in drawn) if self.keys else 0
        if not total:
            return None
        rank = max(1, int(min(p, 100.0) * total / 100 + 0.5))
        # As hdrh: the first bucket whose cumulative count reaches RANK.
        lo, hi = 0, len(self.keys) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if sum(cum[mid] * m for cum, m in drawn) >= rank:
                hi = mid
            else:
                lo = mid + 1
        k = self.keys[lo]
        return highest(k) if p else k


def bootstrap_ci(
    base: list[dict[int, int]],
    other: list[dict[int, int]],
    p: float,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> tuple[float, float] | None:
    """95% interval of (other's percentile P / base's) - 1, resampling intervals."""
    if len(base) < 2 or len(other) < 2:
        return None
    rng = random.Random(seed)
    ratios = []
    first, second = Resampler(base), Resampler(other)
    for _ in range(rounds):
        a = first.percentile(rng, p)
        b = second.percentile(rng, p)
        if a and b is not None:
            ratios.append(b / a - 1)
    if len(ratios) < rounds // 2:
        return None
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[min(len(ratios) - 1, int(0.975 * len(ratios)))]


def bootstrap_ci_requests(
    base: dict[int, int],
    other: dict[int, int],
    p: float,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
    most: int = 2000,
) -> tuple[float, float] | None:
    """95% interval of OTHER's percentile P / BASE's, resampling requests: each side
    drawn with replacement from its own tally, as many as it holds (at most MOST: a
    larger side is resampled at MOST, which only widens the interval). For one hour of
    probes against a few earlier weeks of the same hour (loadtest check), where there
    are too few intervals to resample intervals (bootstrap_ci). None when a side holds
    fewer than two requests."""
    sides = []
    for tally in (base, other):
        keys = sorted(tally)
        cum = list(itertools.accumulate(tally[k] for k in keys))
        if not cum or cum[-1] < 2:
            return None
        sides.append((keys, cum, min(cum[-1], most)))
    rng = random.Random(seed)
    ratios = []
    for _ in range(rounds):
        a, b = (_resampled_percentile(rng, *side, p) for side in sides)
        if a:
            ratios.append(b / a)
    if len(ratios) < rounds // 2:
        return None
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[min(len(ratios) - 1, int(0.975 * len(ratios)))]


def _resampled_percentile(
    rng: random.Random, keys: list[int], cum: list[int], n: int, p: float
) -> int:
    """Percentile P (as tally_percentiles) of N requests drawn from the tally whose
    sorted bucket values are KEYS and cumulative counts CUM."""
    drawn = sorted(rng.choices(keys, cum_weights=cum, k=n))
    rank = max(1, int(min(p, 100.0) * n / 100 + 0.5))
    k = drawn[rank - 1]
    return highest(k) if p else k
