"""How often a judged workload's answers did the task: the success rate with its 95%
interval, and each failure class (pure).

The interval is Wilson's score interval, not the normal approximation: it stays inside
[0, 1] and keeps its coverage at the rates that matter here (90% and up) and at the small
counts of a short run, where p +- 1.96 sqrt(p(1-p)/n) is too narrow or spills past 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from loadtest.metrics import E2E, MODEL_CALLS, TASK_MODEL, TASK_TOOLS
from loadtest.pricing import Price
from loadtest.profile import Profile, Target
from loadtest.records import TargetCounts
from loadtest.schema import AgentTasks, MetricStats, Quality, Retries
from loadtest.validators import MAX_STEPS, OK, OUTCOMES, WRONG_ANSWER

_AGENT_ONLY = (MAX_STEPS, WRONG_ANSWER)
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


def quality_of(outcomes: Mapping[str, int], window_s: float, agent: bool = False) -> Quality | None:
    """The quality block of a target whose judged answers had OUTCOMES (outcome -> n),
    over a measured window of WINDOW_S seconds; None when nothing was judged. AGENT: the
    answers are agent tasks', which can also run out of steps or end on a wrong answer."""
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
        # it), but the agent's own classes only for agent tasks
        "outcomes": {
            o: outcomes.get(o, 0)
            for o in OUTCOMES
            if o != OK and (agent or o not in _AGENT_ONLY or outcomes.get(o))
        },
    }


def agent_tasks(
    metrics: Mapping[str, MetricStats], completed: int, tokens: int, usd: float | None
) -> AgentTasks | None:
    """Where the COMPLETED agent tasks' time went (their METRICS), with their TOKENS (input
    and output) and cost (USD, when priced), per task; None when none completed."""
    wall, model, tools = metrics.get(E2E), metrics.get(TASK_MODEL), metrics.get(TASK_TOOLS)
    calls = metrics.get(MODEL_CALLS)
    if not completed or not (wall and model and tools and calls) or not wall.get("mean"):
        return None
    mean = wall.get("mean", 0.0)
    out: AgentTasks = {
        "completed": completed,
        "latency_ms": {p: wall.get(p, 0.0) for p in ("p50", "p95", "p99")},  # type: ignore[misc]
        "model_share": round(model.get("mean", 0.0) / mean, 4),
        "tool_share": round(tools.get("mean", 0.0) / mean, 4),
        "model_calls": round(calls.get("mean", 0.0), 3),
        "tokens": round(tokens / completed, 1),
    }
    if usd is not None:
        out["cost"] = round(usd / completed, 8)
    return out


def billed_usd(profile: Profile, billed: Mapping[str, list[int]]) -> float | None:
    """What every attempt cost, at the price of the target each went to (BILLED: target
    -> [input, output] tokens); None when one of those targets has no price."""
    prices = {t.name: price_of(t) for t in profile.targets}
    usd = 0.0
    for name, (i, o) in billed.items():
        price = prices[name]
        if price is None:
            return None
        usd += price.cost(i, o)
    return usd


def price_of(t: Target) -> Price | None:
    """Target T's resolved price, None when it has none."""
    if t.input_price is None or t.output_price is None:
        return None
    return Price(
        t.input_price, t.output_price, t.cached_price, t.batch_discount, source=t.price_source
    )


def retries_of(counts: TargetCounts, quality: Quality | None) -> Retries:
    """The retries block: attempts per request and per success, who served what."""
    recorded = counts.completed + counts.failed
    succeeded = counts.completed if quality is None else quality["succeeded"]
    served = {name or "itself": n for name, n in sorted(counts.served.items())}
    by_fallback = sum(n for name, n in counts.served.items() if name)
    return {
        "attempts": counts.attempts,
        "per_request": round(counts.attempts / recorded, 4) if recorded else None,
        "per_success": round(counts.attempts / succeeded, 4) if succeeded else None,
        "served_by": served,
        "fallback_share": round(by_fallback / counts.completed, 4) if counts.completed else 0.0,
        "first_attempt_success_rate": round(counts.first_ok / recorded, 6) if recorded else None,
    }
