"""The Markdown summary: short enough for a pull request or a chat message."""

from __future__ import annotations

from loadtest.report.tables import (
    HEADINGS,
    THRESHOLD_HEADINGS,
    error_lines,
    health_line,
    run_line,
    target_rows,
    threshold_rows,
)
from loadtest.schema import Summary


def render(summary: Summary) -> str:
    """Markdown of one run's summary.json."""
    out = [f"## loadtest: {summary['profile']}", "", run_line(summary) + ".", ""]
    out.append("| " + " | ".join(HEADINGS) + " |")
    out.append("| " + " | ".join("---" if h == "target" else "---:" for h in HEADINGS) + " |")
    for row in target_rows(summary):
        out.append("| " + " | ".join(row) + " |")
    out += ["", "Latencies in ms."]
    errors = error_lines(summary)
    if errors:
        out += ["", "Errors: " + "; ".join(errors) + "."]
    gates = threshold_rows(summary)
    if gates:
        failed = sum(1 for g in summary.get("thresholds", []) if not g["ok"])
        out += ["", f"Thresholds: {len(gates) - failed} passed, {failed} failed.", ""]
        out.append("| " + " | ".join(THRESHOLD_HEADINGS) + " |")
        out.append("| --- | --- | ---: | --- |")
        out += ["| " + " | ".join(r) + " |" for r in gates]
    out += ["", health_line(summary), ""]
    return "\n".join(out)
