"""Open-loop arrival plans: when each request is meant to be sent, as offsets from the start.

The plan is absolute: offsets are computed from the start instant, never from when the
previous request actually went out, so a slow server or a busy client cannot make the
schedule drift (wrk2's lesson). The engine compares each send with its offset and
records the lag.

Time-varying rates (ramp-up, steps, pauses) use time rescaling: arrivals are drawn with
unit mean gaps in "operational time" L(t) = integral of the rate, then mapped back
through the inverse of L. Rates are piecewise linear, so the inverse is closed-form.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ARRIVALS = ("constant", "poisson", "gamma")


@dataclass(frozen=True)
class Segment:
    """A stretch of time whose rate goes linearly from rate_start to rate_end (requests/s)."""

    duration_s: float
    rate_start: float
    rate_end: float

    def area(self) -> float:
        """Expected arrivals in the segment."""
        return (self.rate_start + self.rate_end) / 2 * self.duration_s

    def time_at(self, area: float) -> float:
        """Seconds into the segment at which AREA arrivals are expected (0 <= area <= area())."""
        if area <= 0.0:
            return 0.0
        r0, d = self.rate_start, self.duration_s
        slope = (self.rate_end - r0) / d
        if abs(slope) < 1e-12:
            return area / r0
        # r0*t + slope*t^2/2 = area; the root in [0, d] (numerically stable form)
        disc = max(0.0, r0 * r0 + 2 * slope * area)
        return 2 * area / (r0 + math.sqrt(disc))


def segments(steps: Sequence[tuple[float, float]], ramp_up_s: float = 0.0) -> list[Segment]:
    """Rate segments from (duration_s, rate) steps, with a linear ramp from 0 to the first
    step's rate over RAMP_UP_S (taken out of the first step's duration)."""
    out: list[Segment] = []
    for i, (duration, rate) in enumerate(steps):
        if duration <= 0 or rate < 0:
            raise ValueError(f"step {i}: duration must be > 0 and rate >= 0")
        if i == 0 and ramp_up_s > 0:
            ramp = min(ramp_up_s, duration)
            out.append(Segment(ramp, 0.0, rate))
            duration -= ramp
            if duration <= 0:
                continue
        out.append(Segment(duration, rate, rate))
    return out


def unit_gaps(arrivals: str, rng: random.Random, burstiness: float = 1.0) -> Iterator[float]:
    """Gaps with mean 1: constant; exponential (Poisson); gamma with shape BURSTINESS
    (1 is Poisson, below 1 burstier, above 1 more even), as vLLM's bench serve defines it."""
    if arrivals == "constant":
        while True:
            yield 1.0
    elif arrivals == "poisson":
        while True:
            yield rng.expovariate(1.0)
    elif arrivals == "gamma":
        if burstiness <= 0:
            raise ValueError("burstiness must be > 0")
        while True:
            yield rng.gammavariate(burstiness, 1.0 / burstiness)
    else:
        raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, got {arrivals!r}")


def offsets(
    plan: Sequence[Segment], arrivals: str = "constant", seed: int = 0, burstiness: float = 1.0
) -> Iterator[float]:
    """Intended send offsets (seconds from the start) over PLAN, increasing, then stops.

    Constant arrivals start at 0 (the first request goes at once, as in wrk2 and
    vegeta); random ones start after one random gap, since a Poisson process has no
    arrival at a privileged instant.
    """
    rng = random.Random(seed)
    gaps = unit_gaps(arrivals, rng, burstiness)
    target = 0.0 if arrivals == "constant" else next(gaps)
    start = 0.0  # time at which the current segment begins
    passed = 0.0  # expected arrivals before the current segment
    for seg in plan:
        area = seg.area()
        while target < passed + area:
            yield start + seg.time_at(target - passed)
            target += next(gaps)
        passed += area
        start += seg.duration_s


def total_duration(plan: Sequence[Segment]) -> float:
    """Length of the plan in seconds."""
    return sum(s.duration_s for s in plan)
