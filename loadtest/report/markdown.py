"""The Markdown summary: short enough for a pull request or a chat message."""

from __future__ import annotations

from loadtest.report import tables
from loadtest.schema import Summary


def render(summary: Summary) -> str:
    """Markdown of one run's summary.json."""
    out = [f"## loadtest: {summary['profile']}", "", tables.run_line(summary) + ".", ""]
    out += [f"- {line}." for line in tables.load_lines(summary)]
    out.append("")
    out.append("| " + " | ".join(tables.HEADINGS) + " |")
    out.append(
        "| "
        + " | ".join("---" if h in ("target", "offered") else "---:" for h in tables.HEADINGS)
        + " |"
    )
    for row in tables.target_rows(summary):
        out.append("| " + " | ".join(row) + " |")
    steps = tables.step_table(summary)
    if steps:
        headings = (*tables.STEP_HEADINGS, *(h for h, _, _ in tables.LATENCY_COLUMNS))
        out += ["", "Per load step:", "", "| " + " | ".join(headings) + " |"]
        out.append(
            "| " + " | ".join("---:" if i > 2 else "---" for i in range(len(headings))) + " |"
        )
        out += ["| " + " | ".join(r) + " |" for r in steps]
    out += ["", "Latencies in ms."]
    errors = tables.error_lines(summary)
    if errors:
        out += ["", "Errors: " + "; ".join(errors) + "."]
    said = tables.message_rows(summary)
    if said:
        out += ["", "What the servers said:", ""]
        out += [f"- {name} `{error}` ×{n}: {message}" for name, error, n, message in said]
    accounting = tables.accounting_lines(summary)
    if accounting:
        out += ["", "Requests: " + "; ".join(accounting) + "."]
    gates = tables.threshold_rows(summary)
    if gates:
        failed = sum(1 for g in summary.get("thresholds", []) if not g["ok"])
        out += ["", f"Thresholds: {len(gates) - failed} passed, {failed} failed.", ""]
        out.append("| " + " | ".join(tables.THRESHOLD_HEADINGS) + " |")
        out.append("| --- | --- | ---: | --- |")
        out += ["| " + " | ".join(r) + " |" for r in gates]
    out += ["", tables.health_line(summary), ""]
    return "\n".join(out)
