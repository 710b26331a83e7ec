"""The numbers every report format shows, taken from summary.json (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.schema import StatKey, Summary, TargetSummary, stat


@dataclass(frozen=True)
class Latency:
    """A latency metric of the run tables and the percentiles each shows of it (ms)."""

    label: str
    metric: str
    keys: tuple[StatKey, ...]  # a column each in the reports (HTML, Markdown)
    terminal: tuple[StatKey, ...]  # one column, '50/95/99', in the end-of-run table


LATENCY = (
    Latency("TTFT", "ttft", ("p50", "p95", "p99"), ("p50", "p95", "p99")),
    Latency("ITL", "itl", ("p50", "p99"), ("p50", "p99")),
    Latency("E2E", "e2e", ("p50", "p95", "p99"), ("p50", "p95")),
)
# (heading, metric, percentile key) of the reports' per-target latency columns.
LATENCY_COLUMNS = tuple((f"{c.label} {k}", c.metric, k) for c in LATENCY for k in c.keys)
COUNT_HEADINGS = ("target", "ok", "failed", "req/s", "tok/s")
HEADINGS = (*COUNT_HEADINGS, *(c[0] for c in LATENCY_COLUMNS))


def ms(v: float | None) -> str:
    """A latency in ms as reports print it."""
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def count_cells(name: str, t: TargetSummary) -> list[str]:
    """A target's cells under COUNT_HEADINGS, as every run table shows them."""
    return [
        name,
        str(t["requests"]["completed"]),
        str(t["requests"]["failed"]),
        f"{t['rates']['requests_per_s']:.2f}",
        f"{t['rates']['output_tokens_per_s']:,.0f}",
    ]


def target_rows(summary: Summary) -> list[list[str]]:
    """One row per target, in HEADINGS order."""
    return [
        [*count_cells(name, t), *(ms(stat(t, metric, key)) for _, metric, key in LATENCY_COLUMNS)]
        for name, t in summary["targets"].items()
    ]


def error_text(t: TargetSummary) -> str:
    """'class n, class n' of a target's errors; '' when it has none."""
    return ", ".join(f"{k} {v}" for k, v in t["errors"].items())


def error_lines(summary: Summary) -> list[str]:
    """'target: class n, class n' for each target with errors."""
    out = []
    for name, t in summary["targets"].items():
        if t["errors"]:
            out.append(f"{name}: {error_text(t)}")
    return out


def accounting_text(t: TargetSummary) -> str:
    """Where a target's requests went, when some were cut off, never sent or late:
    'sent 12 = 8 completed + 4 abandoned; never sent: 30 unsent; 9 late'; '' otherwise
    (a warm-up alone is no news)."""
    req = t["requests"]
    warmup, unsent = req.get("warmup", 0), req.get("unsent", 0)
    if not (req["abandoned"] or req["shed"] or unsent or req["late"]):
        return ""
    parts = [
        f"{n} {what}"
        for n, what in (
            (warmup, "warm-up"),
            (req["completed"], "completed"),
            (req["failed"], "failed"),
            (req["abandoned"], "abandoned"),
        )
        if n or what == "completed"
    ]
    text = f"sent {req['sent']} = " + " + ".join(parts)
    never = [f"{n} {what}" for n, what in ((req["shed"], "shed"), (unsent, "unsent")) if n]
    if never:
        text += "; never sent: " + ", ".join(never)
    if req["late"]:
        text += f"; {req['late']} late"
    return text


def accounting_lines(summary: Summary) -> list[str]:
    """'target: sent ... = ...' for each target with more than completions and failures."""
    return [
        f"{name}: {text}" for name, t in summary["targets"].items() if (text := accounting_text(t))
    ]


def health_line(summary: Summary) -> str:
    """One sentence on whether the client itself was the bottleneck."""
    h = summary["client_health"]
    lag, cpu = h["loop_lag_max_ms"], h["cpu_percent_max"]
    if h["saturated_intervals"]:
        return (
            f"Client saturated in {h['saturated_intervals']} of {h['intervals']} intervals "
            f"(loop lag up to {lag:.0f} ms, CPU up to {cpu:.0f}%): latencies include "
            "the client's own delay."
        )
    return f"Client healthy: loop lag at most {lag:.1f} ms, CPU at most {cpu:.0f}%."


def run_line(summary: Summary) -> str:
    """Start, length, warm-up and why the run stopped."""
    r = summary["run"]
    return (
        f"{r['start_utc']} to {r['end_utc']}, {r['duration_s']:.0f} s "
        f"(warm-up {r['warmup_s']:g} s), stopped by {r['stopped_by']}"
    )


def threshold_rows(summary: Summary) -> list[list[str]]:
    """expression, target, value seen, verdict: one row per judged threshold."""
    rows = []
    for g in summary.get("thresholds", []):
        value = "-" if g["value"] is None else f"{g['value']:,.4g}"
        verdict = "pass" if g["ok"] else "FAIL" + (f" ({g['note']})" if g.get("note") else "")
        rows.append([g["expr"], g["target"], value, verdict])
    return rows


THRESHOLD_HEADINGS = ("threshold", "target", "value", "result")
