"""The time-of-day report in a terminal: rich tables, heatmap cells shaded by value."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from loadtest.report.timeofday_text import (
    TITLE,
    busy_text,
    heat_rows,
    peak_rows,
    ranking_text,
    target_notes,
    zone_line,
)
from loadtest.timeofday import Options, TargetReport

_SHADES = ("green", "yellow", "dark_orange", "red", "bold red")
_CELL = 5  # characters per heatmap column, its padding included


def _compact(ms: float) -> str:
    """At most four characters: 867, 1.0k, 12k."""
    if ms < 1000:
        return f"{ms:.0f}"
    return f"{ms / 1000:.1f}k" if ms < 9950 else f"{ms / 1000:.0f}k"


def _shade(v: float | None, lo: float, hi: float) -> Text:
    if v is None:
        return Text("")
    f = 0.0 if hi <= lo else (v - lo) / (hi - lo)
    return Text(_compact(v), style=_SHADES[min(len(_SHADES) - 1, int(f * len(_SHADES)))])


def show(console: Console, reports: dict[str, TargetReport], opts: Options) -> None:
    """Print the peak table, the ranking, and each target's notes and heatmaps."""
    console.print(f"[bold]{TITLE}[/]  {escape(zone_line(opts))}")
    if not reports:
        console.print("No stored intervals in this range (loadtest store list shows the runs).")
        return
    w = console.width
    keys = ("p50", "p95", "p99") if w >= 120 else ("p50", "p95") if w >= 100 else ("p95",)
    t = Table(box=box.SIMPLE_HEAD)
    heads = ["target", "metric"]
    heads += [f"off {k}" for k in keys] + [f"peak {k}" for k in keys] + ["P95 ratio", "95% CI"]
    for i, h in enumerate(heads):
        t.add_column(h, justify="left" if i < 2 else "right", no_wrap=True)
    for row in peak_rows(reports, keys):
        t.add_row(*(escape(c) for c in row))
    console.print(t)
    if ranking_text(reports):
        console.print(ranking_text(reports), markup=False)
    if busy_text(reports):
        console.print(busy_text(reports), markup=False, style="bold red")
    # a narrow terminal gets each map in two halves of the day
    halves = [range(24)] if console.width >= 4 + 24 * _CELL else [range(12), range(12, 24)]
    for name, rep in reports.items():
        console.print()
        console.print(f"[bold]{escape(name)}[/]")
        for note in target_notes(rep, opts):
            console.print(note, markup=False)
        for key in opts.heatmaps:
            rows = heat_rows(rep, key)
            if not rows:
                continue
            values = [v for _, vals in rows for v in vals if v is not None]
            lo, hi = min(values), max(values)
            for hours in halves:
                m = Table(
                    box=None,
                    padding=(0, 0, 0, 1),
                    title=f"TTFT {key.upper()} (ms)",
                    title_justify="left",
                )
                m.add_column("")
                for hour in hours:
                    m.add_column(f"{hour:02d}", justify="right", min_width=_CELL - 1)
                for day, vals in rows:
                    m.add_row(day, *(_shade(vals[h], lo, hi) for h in hours))
                console.print(m)
