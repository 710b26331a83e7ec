"""The Markdown summary: short enough for a pull request or a chat message."""

from __future__ import annotations

from loadtest.report import server_side, tables
from loadtest.report.client_text import health_line, workers_line
from loadtest.schema import Summary


def _table(headings: list[str], rows: list[list[str]]) -> list[str]:
    text = ("target", "step", "offered", "metric")
    out = ["| " + " | ".join(headings) + " |"]
    out.append("| " + " | ".join("---" if h in text else "---:" for h in headings) + " |")
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def render(summary: Summary) -> str:
    """Markdown of one run's summary.json."""
    out = [f"## loadtest: {summary['profile']}", "", tables.run_line(summary) + ".", ""]
    out += [f"- {line}." for line in tables.load_lines(summary)]
    out.append("")
    out += _table(*tables.target_table(summary))
    headings, steps = tables.steps_table(summary)
    if steps:
        out += ["", "Per load step:", "", *_table(headings, steps)]
    out += ["", "Latencies in ms."]
    server = server_side.rows(summary)
    if server:
        out += ["", "The servers' own metrics (~ interpolated from their buckets):", ""]
        out += _table(server_side.HEADINGS, server)
    out += [f"\n{n}." for n in server_side.notes(summary)]
    errors = tables.error_lines(summary)
    if errors:
        out += ["", "Errors: " + "; ".join(errors) + "."]
    said = tables.message_rows(summary)
    if said:
        out += ["", "What the servers said:", ""]
        out += [f"- {name} `{error}` ×{n}: {message}" for name, error, n, message in said]
    costs = tables.outcome_lines(summary)
    if costs:
        out += [""] + [f"- {line}." for line in costs]
    notes = tables.token_notes(summary)
    if notes:
        out += ["", "Tokens: " + "; ".join(notes) + "."]
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
    out += ["", health_line(summary), ""]
    if workers := workers_line(summary):
        out += [workers + ".", ""]
    return "\n".join(out)
