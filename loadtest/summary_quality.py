"""How often a judged workload's answers did the task: the success rate with its 95%
interval, and each failure class (pure).

The interval is Wilson's score interval, not the normal approximation: it stays inside
[0, 1] and keeps its coverage at the rates that matter here (90% and up) and at the small
counts of a short run, where p +- 1.96 sqrt(p(1-p)/n) is too narrow or spills past 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from loadtest.schema import Quality
from loadtest.validators import MAX_STEPS, OK, OUTCOMES

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The score interval of a proportion of K successes in N trials (N > 0)."""
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At k = 0 (k = n) the bound is 0 (1) exactly; the formula leaves a rounding residue.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    return low, 1.0 if k == n else min(1.0, centre + half)


def quality_of(outcomes: Mapping[str, int], window_s: float) -> Quality | None:
    """The quality block of a target whose judged answers had OUTCOMES (outcome -> n),
    over a measured window of WINDOW_S seconds; None when nothing was judged."""
    judged = sum(outcomes.values())
    if not judged:
        return None
    ok = outcomes.get(OK, 0)
    lo, hi = wilson(ok, judged)
    return {
        "judged": judged,
        "succeeded": ok,
        "success_rate": round(ok / judged, 6),
        "interval95": [round(lo, 6), round(hi, 6)],
        "successes_per_s": round(ok / window_s, 3) if window_s > 0 else 0.0,
        # every class, zeros included (a report can say "no wrong_tool" rather than omit
        # it), but max_steps only where agent tasks could run out of steps
        "outcomes": {
            o: outcomes.get(o, 0)
            for o in OUTCOMES
            if o != OK and (o != MAX_STEPS or outcomes.get(o))
        },
    }
