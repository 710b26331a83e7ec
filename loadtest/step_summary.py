"""The summary's rows per load step: for a stepped load, each step's offered level, its
achieved rates over its own window, its errors and its latency percentiles, so the
point where a server saturates can be read off one run (pure)."""

from __future__ import annotations

from loadtest.loadspec import Load
from loadtest.metrics import METRICS, unit_of
from loadtest.records import StepTotals
from loadtest.schema import StepSummary
from loadtest.summary_stats import rates_of, tally_stats


def step_rows(
    load: Load,
    duration_s: float,
    warmup_s: float,
    window_end_s: float,
    steps: list[StepTotals],
    highest: int,
    with_slo: bool = False,
) -> list[StepSummary]:
    """One row per step of LOAD in a run of DURATION_S whose target's measured window
    ran from WARMUP_S to WINDOW_END_S (seconds since the start); STEPS: the recorder's
    totals of each, HIGHEST: the histograms' top value (beyond it a value is clipped,
    as in the run's totals); WITH_SLO: the run has an [slo], so each step has goodput.
    A step's window is the part of it both measured and sent in; its requests are those
    whose intended send time fell in it."""
    rows: list[StepSummary] = []
    start = 0.0
    levels = load.levels(duration_s)
    for i, ((length, level), totals) in enumerate(zip(levels, steps, strict=True)):
        last = i == len(levels) - 1
        end = window_end_s if last else min(start + length, window_end_s)
        window = max(0.0, end - max(start, warmup_s))
        c = totals.counts
        metrics = {}
        for m in METRICS:
            unit, scale = unit_of(m)
            kept = {v: n for v, n in totals.tally.get(m, {}).items() if v <= highest}
            metrics[m] = tally_stats(kept, scale, unit)
        good = c.good if with_slo else None
        row: StepSummary = {
            "step": i + 1,
            "level": level,
            "start_s": round(start, 3),
            "duration_s": round(max(0.0, end - start) if last else length, 3),
            "requests": {"recorded": c.completed + c.failed, "completed": c.completed},
            "rates": rates_of(
                c.completed, c.failed, c.completed + c.failed, c.output_tokens, window, good
            ),
            "errors": dict(sorted(c.errors.items())),
            "metrics": metrics,
        }
        if good is not None:
            row["requests"]["good"] = good
        rows.append(row)
        start += length
    return rows
