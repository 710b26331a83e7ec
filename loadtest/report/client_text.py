"""The client's own side of a run in words: whether it was the bottleneck, and how its
worker processes ended (pure, for every report)."""

from __future__ import annotations

from loadtest.records import CPU_BOUND_CAUSE, DELAYED_CAUSE, LAG_MS
from loadtest.schema import Summary


def health_line(summary: Summary) -> str:
    """One sentence on whether the client itself was the bottleneck."""
    h = summary["client_health"]
    lag, cpu = h["loop_lag_max_ms"], h["cpu_percent_max"]
    if not h["saturated_intervals"]:
        return f"Client healthy: loop lag at most {lag:.1f} ms, CPU at most {cpu:.0f}%."
    by = h.get("saturated_by") or {"client saturated": h["saturated_intervals"]}
    why = {
        CPU_BOUND_CAUSE: f"its core was busy, CPU up to {cpu:.0f}% (fewer streams per "
        "process, or more processes)",
        DELAYED_CAUSE: f"its event loop woke {LAG_MS:g} ms or more late for a sustained "
        f"share of an interval, lag up to {lag:.0f} ms, while its own CPU was not the "
        "reason (other processes or the host took the machine)",
    }
    parts = [
        f"{cause[0].upper()}{cause[1:]} in {n} of {h['intervals']} intervals: "
        + why.get(cause, f"lag up to {lag:.0f} ms, CPU up to {cpu:.0f}%")
        for cause, n in sorted(by.items())
    ]
    return "; ".join(parts) + ". Latencies there include the client's own delay."


def workers_line(summary: Summary) -> str:
    """For a run over several worker processes: how each ended, which one was saturated,
    and whether the run is partial ('' for a run in one process)."""
    rows = summary["client_health"].get("workers")
    if not rows:
        return ""
    parts = []
    for w in rows:
        text = f"worker {w['worker']} {w['state']}"
        if w.get("error"):
            text += f" ({w['error']})"
        if w["saturated_intervals"]:
            text += f", saturated in {w['saturated_intervals']} of {w['intervals']} intervals"
        parts.append(text)
    tail = (
        ": the run is partial (a lost worker's share is missing from then on)"
        if summary["run"].get("partial")
        else ""
    )
    return f"{len(rows)} worker processes: " + "; ".join(parts) + tail
