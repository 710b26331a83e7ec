"""The end-of-run tables in a terminal (`loadtest run`, `loadtest report --format term`):
the report tables' columns, each latency metric's percentiles in one narrow column.

Whatever the width (an 80-column terminal, a CI log that is no terminal at all), no
number is clipped and no column silently dropped: a table that does not fit moves its
errors under it, and one that still does not fit becomes a block of lines per row,
each item ('req/s 9.60', 'TTFT 50/95/99 412/1250/2480 ms') kept whole on its line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from loadtest.report.client_text import health_line, workers_line
from loadtest.report.tables import (
    COUNT_HEADINGS,
    LATENCY,
    STEP_HEADINGS,
    accounting_lines,
    count_cells,
    error_text,
    load_lines,
    message_rows,
    outcome_lines,
    step_cells,
    steps_of,
    threshold_rows,
    token_notes,
)
from loadtest.schema import MetricStats, Summary

_TEXT = ("target", "offered", "errors")  # left-aligned; every other column is a number


def _whole_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _latency_headings() -> list[str]:
    return [f"{c.label} " + "/".join(k[1:] for k in c.terminal) for c in LATENCY]


def _latency_cells(metrics: dict[str, MetricStats]) -> list[str]:
    out = []
    for c in LATENCY:
        m = metrics.get(c.metric)
        out.append("/".join(_whole_ms(None if m is None else m.get(k)) for k in c.terminal))
    return out


def _table(title: str, headings: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    for h in headings:
        numeric = h not in _TEXT
        table.add_column(
            h, justify="right" if numeric else "left", no_wrap=h != "errors", overflow="fold"
        )
    for row in rows:
        table.add_row(*row)
    return table


def _fits(console: Console, table: Table) -> bool:
    # Measured unbounded: a measurement within the console's width is capped at it.
    natural = console.measure(table, options=console.options.update(max_width=100_000))
    return natural.maximum <= console.width


def _blocks(width: int, headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Each row as lines of 'heading value' items, greedily filled to WIDTH, the first
    cell (the target) leading; an item is never split."""
    lines = []
    for row in rows:
        items = [
            f"{h} {v}{' ms' if h.split()[0] in _UNITS_MS else ''}"
            for h, v in zip(headings[1:], row[1:], strict=True)
        ]
        line = row[0]
        for item in items:
            if len(line) + 2 + len(item) > width and line.strip():
                lines.append(line)
                line = "   " + item
            else:
                line += "  " + item
        lines.append(line)
    return lines


_UNITS_MS = {c.label for c in LATENCY}
_UNITS = {"ms", "s", "us", "%", "req/s", "tok/s", "tokens", "tokens/s", "stream", "streams"}
_NUMBER = re.compile(r"^[(\[]?[0-9][0-9.,/]*%?$")


def wrap_keeping_units(text: str, width: int, indent: str = "  ") -> list[str]:
    """TEXT as lines of at most WIDTH (where its words allow), broken only at spaces
    and never between a number and its unit ('30 s', '1,250 ms'); later lines start
    with INDENT."""
    words: list[str] = []
    for w in text.split(" "):
        if words and w.rstrip(",;.)") in _UNITS and _NUMBER.match(words[-1]):
            words[-1] += " " + w
        else:
            words.append(w)
    lines, line = [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = indent + w
        else:
            line = f"{line} {w}" if line else w
    lines.append(line)
    return lines


def _say(console: Console, text: str, style: str | None = None) -> None:
    for line in wrap_keeping_units(text, console.width):
        console.print(line, highlight=False, markup=False, style=style, crop=False, soft_wrap=True)


def print_table(
    console: Console,
    title: str,
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    errors: Sequence[str] | None = None,
) -> None:
    """HEADINGS and ROWS as a table that fits the console, with ERRORS (one text per
    row, '' for none) as its last column when any row has some, else under it."""
    has_errors = errors is not None and any(errors)
    if has_errors and errors is not None:
        with_errors = [[*r, e or "-"] for r, e in zip(rows, errors, strict=True)]
        full = _table(title, [*headings, "errors"], with_errors)
        if _fits(console, full):
            console.print(full)
            return
    table = _table(title, headings, rows)
    if _fits(console, table):
        console.print(table)
    else:
        _say(console, title)
        for line in _blocks(console.width, headings, rows):
            console.print(line, highlight=False, markup=False, crop=False, soft_wrap=True)
    if has_errors and errors is not None:
        for r, e in zip(rows, errors, strict=True):
            if e:
                _say(console, f"  {r[0]} errors: {e}")


def print_summary(console: Console, summary: Summary, run_dir: Path) -> None:
    """The load applied, the table of targets (times in ms), a table per load step of a
    stepped load, the client's health when it was saturated, each threshold's verdict,
    and where the report is."""
    for line in load_lines(summary):
        _say(console, line, "dim")
    r = summary["run"]
    any_failed = any(t["errors"] for t in summary["targets"].values())
    cells_of = {name: count_cells(name, t) for name, t in summary["targets"].items()}
    # One load for all: the Load line above says it, the column would only repeat it.
    same_load = len({c[COUNT_HEADINGS.index("offered")] for c in cells_of.values()}) == 1
    drop = {"failed"} if not any_failed else set()
    if all("goodput_per_s" not in t["rates"] for t in summary["targets"].values()):
        drop.add("good/s")
    if same_load and len(cells_of) > 1:
        drop.add("offered")
    counts = [h for h in COUNT_HEADINGS if h not in drop]
    rows, errors = [], []
    for name, t in summary["targets"].items():
        cells = dict(zip(COUNT_HEADINGS, cells_of[name], strict=True))
        rows.append([*(cells[h] for h in counts), *_latency_cells(t["metrics"])])
        errors.append(error_text(t))
    title = f"{summary['profile']}: {r['duration_s']:.0f} s, stopped by {r['stopped_by']}"
    print_table(console, title, [*counts, *_latency_headings()], rows, errors)
    steps = steps_of(summary)
    if steps:
        # A closed loop sends what completes or fails: its sent/s says nothing new.
        drop = {"step"}
        if all(t["load"]["mode"] == "closed" for _, t, _ in steps):
            drop.add("sent/s")
        if not any(st["errors"] for _, _, st in steps):
            drop.add("failed")
        if all("goodput_per_s" not in st["rates"] for _, _, st in steps):
            drop.add("good/s")
        keep = [i for i, h in enumerate(STEP_HEADINGS) if h not in drop]
        rows = [
            [*(step_cells(n, t, st)[i] for i in keep), *_latency_cells(st["metrics"])]
            for n, t, st in steps
        ]
        errs = [", ".join(f"{k} {v}" for k, v in st["errors"].items()) for _, _, st in steps]
        headings = [*(STEP_HEADINGS[i] for i in keep), *_latency_headings()]
        console.print()
        print_table(console, "per load step", headings, rows, errs)
    for name, error, n, message in message_rows(summary):
        _say(console, f"  {name} {error} ×{n}: {message}")
    for line in accounting_lines(summary):
        _say(console, line)
    for line in token_notes(summary):
        _say(console, line, "yellow")
    for line in outcome_lines(summary):
        _say(console, line)
    if summary["client_health"]["saturated_intervals"]:
        _say(console, "warning: " + health_line(summary), "bold red")
    if workers := workers_line(summary):
        partial = summary["run"].get("partial")
        _say(console, ("warning: " if partial else "") + workers, "bold red" if partial else None)
    for expr, target, value, verdict in threshold_rows(summary):
        _say(
            console,
            f"{verdict} {expr} [{target}]: {value}",
            "green" if verdict == "pass" else "bold red",
        )
    _say(console, "times in ms; report: " + str(run_dir / "index.html"))
