"""The end-of-run table in a terminal (`loadtest run`, `loadtest report --format term`):
the report tables' columns, each latency metric's percentiles in one narrow column."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loadtest.report.tables import (
    COUNT_HEADINGS,
    LATENCY,
    accounting_lines,
    count_cells,
    error_text,
    health_line,
    threshold_rows,
)
from loadtest.schema import Summary, stat


def _whole_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def summary_table(summary: Summary) -> Table:
    """One row per target; the failed and errors columns only when some target failed."""
    r = summary["run"]
    table = Table(
        title=f"{summary['profile']}: {r['duration_s']:.0f} s, stopped by {r['stopped_by']}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    any_errors = any(t["errors"] for t in summary["targets"].values())
    counts = [h for h in COUNT_HEADINGS if any_errors or h != "failed"]
    latency = [f"{c.label} " + "/".join(k[1:] for k in c.terminal) for c in LATENCY]
    for c in [*counts, *latency, *(["errors"] if any_errors else [])]:
        # Numbers keep their width; a long target name is what gets cut.
        numeric = c not in ("target", "errors")
        table.add_column(
            c,
            justify="right" if numeric else "left",
            no_wrap=c != "errors",
            min_width=len(c) if numeric else None,
            overflow="ellipsis",
        )
    for name, t in summary["targets"].items():
        cells = dict(zip(COUNT_HEADINGS, count_cells(name, t), strict=True))
        row = [cells[h] for h in counts]
        row += ["/".join(_whole_ms(stat(t, c.metric, k)) for k in c.terminal) for c in LATENCY]
        if any_errors:
            row.append(error_text(t) or "-")
        table.add_row(*row)
    return table


def print_summary(console: Console, summary: Summary, run_dir: Path) -> None:
    """The table printed at the end of a run (times in ms), the client's health when it
    was saturated, each threshold's verdict, and where the report is."""
    console.print(summary_table(summary))
    for line in accounting_lines(summary):
        console.print(line, highlight=False, markup=False)
    if summary["client_health"]["saturated_intervals"]:
        console.print(f"[bold red]warning:[/] {escape(health_line(summary))}")
    for expr, target, value, verdict in threshold_rows(summary):
        style = "green" if verdict == "pass" else "bold red"
        console.print(
            f"[{style}]{escape(verdict)}[/] {escape(expr)} {escape('[' + target + ']')}: {value}",
            highlight=False,
        )
    console.print("times in ms; report: " + str(run_dir / "index.html"))
