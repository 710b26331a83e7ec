"""Comparing saved runs: each metric side by side with its delta from the first run, and
for P95 and P99 a bootstrap 95% confidence interval of the relative delta.

The bootstrap resamples whole intervals (with replacement) of each run independently,
merges their histograms and takes the percentile again: intervals, not requests, are
the unit, so a slow minute stays a slow minute. With few intervals the interval is
wide, as it should be. Seeded: the same runs give the same interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loadtest.report.run_data import RunData
from loadtest.schema import StatKey, stat
from loadtest.tally import BOOTSTRAP_ROUNDS, bootstrap_ci

LATENCY = ("ttft", "itl", "e2e")
PERCENTILES: tuple[tuple[StatKey, float], ...] = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))
WITH_CI = ("p95", "p99")


@dataclass
class Row:
    """One metric of one target across the runs."""

    label: str
    values: list[float | None]  # one per run
    higher_is_better: bool = False
    ci: list[tuple[float, float] | None] = field(default_factory=list)  # relative, per run

    def delta(self, i: int) -> tuple[float | None, float | None]:
        """(absolute, relative) change of run I from the first run."""
        a, b = self.values[0], self.values[i]
        if a is None or b is None:
            return None, None
        return b - a, (b - a) / a if a else None


def load_differences(runs: list[RunData]) -> list[str]:
    """One line per compared target whose runs applied different loads (mode, level,
    arrivals, steps; the warm-up, duration or token lengths of the runs): a difference
    between them may be the load's, not the servers'. Empty when they match."""
    from loadtest.report.tables import load_text

    out = []
    for label, names in pair_targets(runs):
        loads = [r.summary["targets"][n].get("load") for r, n in zip(runs, names, strict=True)]
        texts = [load_text(x) if x is not None else "?" for x in loads]
        if len(set(texts)) > 1:
            out.append(f"{label}: the runs' loads differ: " + " | ".join(texts))
    applied = [r.summary.get("applied") for r in runs]
    keys = ("duration_s", "warmup_s", "input_tokens", "output_tokens", "ignore_eos")
    for key in keys:
        seen = {str(a.get(key)) for a in applied if a is not None}
        if len(seen) > 1:
            out.append(f"the runs' {key} differ: " + " | ".join(sorted(seen)))
    return out


def _tallies(run: RunData, target: str, metric: str) -> list[dict[int, int]]:
    """Each interval's histogram of METRIC as {bucket value: count}."""
    return [t for iv in run.intervals if (t := iv.tally(target, metric))]


def pair_targets(runs: list[RunData]) -> list[tuple[str, list[str]]]:
    """(label, each run's target name) for the targets compared: those every run has,
    or, when every run has exactly one, those single targets whatever their names."""
    names = [run.targets for run in runs]
    common = [t for t in names[0] if all(t in n for n in names[1:])]
    if common:
        return [(t, [t] * len(runs)) for t in common]
    if all(len(n) == 1 for n in names):
        return [(" vs ".join(n[0] for n in names), [n[0] for n in names])]
    return []


def compare(runs: list[RunData], rounds: int = BOOTSTRAP_ROUNDS) -> dict[str, list[Row]]:
    """Label -> rows of metrics, for the targets the runs have in common."""
    out: dict[str, list[Row]] = {}
    for label, names in pair_targets(runs):
        rows: list[Row] = []
        summaries = [run.summary["targets"][n] for run, n in zip(runs, names, strict=True)]
        for metric in LATENCY:
            tallies = [_tallies(run, n, metric) for run, n in zip(runs, names, strict=True)]
            for key, p in PERCENTILES:
                values = [stat(s, metric, key) for s in summaries]
                row = Row(f"{metric} {key} (ms)", values)
                if key in WITH_CI:
                    row.ci = [None]
                    for i, t in enumerate(tallies[1:], 1):
                        row.ci.append(bootstrap_ci(tallies[0], t, p, rounds, seed=i))
                rows.append(row)
        rows.append(Row("requests/s", [s["rates"]["requests_per_s"] for s in summaries], True))
        rows.append(
            Row("output tokens/s", [s["rates"]["output_tokens_per_s"] for s in summaries], True)
        )
        rows.append(Row("error rate", [s["rates"]["error_rate"] for s in summaries]))
        quality = [s.get("quality") for s in summaries]
        if any(q is not None for q in quality):
            rows.append(Row("success rate", [q and q["success_rate"] for q in quality], True))
        costs = [s.get("cost") for s in summaries]
        if any(c is not None for c in costs):
            rows.append(Row("cost per 1,000 calls (USD)", [c and c["per_1k_calls"] for c in costs]))
            rows.append(Row("cost per success (USD)", [c and c["per_success"] for c in costs]))
        out[label] = rows
    return out


def as_json(runs: list[RunData], table: dict[str, list[Row]]) -> dict[str, Any]:
    """The comparison as plain data."""
    return {
        "runs": [str(r.path) for r in runs],
        "targets": {
            label: [
                {
                    "metric": row.label,
                    "values": row.values,
                    "deltas": [
                        {"absolute": row.delta(i)[0], "relative": row.delta(i)[1]}
                        for i in range(1, len(row.values))
                    ],
                    "ci95_relative": [list(c) if c else None for c in row.ci[1:]],
                }
                for row in rows
            ]
            for label, rows in table.items()
        },
    }


def _num(v: float | None, label: str) -> str:
    if v is None:
        return "-"
    if label == "error rate":
        return f"{v:.2%}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def cells(row: Row) -> list[str]:
    """The row as text: the first run's value, then each run's value with its change."""
    out = [row.label, _num(row.values[0], row.label)]
    for i in range(1, len(row.values)):
        text = _num(row.values[i], row.label)
        absolute, relative = row.delta(i)
        if relative is not None:
            text += f" ({relative:+.1%})"
        elif absolute is not None and row.label == "error rate":
            text += f" ({absolute * 100:+.2f} pt)"
        ci = row.ci[i] if i < len(row.ci) else None
        if ci is not None:
            text += f" [{ci[0]:+.1%}, {ci[1]:+.1%}]"
        out.append(text)
    return out


def headings(runs: list[RunData]) -> list[str]:
    return ["metric", f"{runs[0].name} (base)", *(r.name for r in runs[1:])]


NO_TARGET = "The runs have no target in common."
NOTE = (
    "Changes are relative to the first run; [a, b] is the bootstrap 95% confidence "
    "interval of the relative change (intervals resampled): if it excludes 0%, the "
    "difference is unlikely to be noise."
)


def show(console: Console, runs: list[RunData], table: dict[str, list[Row]]) -> None:
    """The comparison in a terminal: a rich table per target, then the note."""
    if not table:
        console.print(NO_TARGET)
    for label, rows in table.items():
        t = Table(title=label, title_justify="left")
        for i, h in enumerate(headings(runs)):
            t.add_column(h, justify="left" if i == 0 else "right")
        for r in rows:
            t.add_row(*(escape(c) for c in cells(r)))
        console.print(t)
    console.print(NOTE, style="dim", markup=False)


def to_markdown(runs: list[RunData], table: dict[str, list[Row]]) -> str:
    out = ["## loadtest compare", ""]
    if not table:
        return "\n".join([*out, NO_TARGET, ""])
    for label, rows in table.items():
        head = headings(runs)
        out += [f"### {label}", "", "| " + " | ".join(head) + " |"]
        out.append("| --- |" + " ---: |" * (len(head) - 1))
        out += ["| " + " | ".join(cells(r)) + " |" for r in rows]
        out.append("")
    out += [NOTE, ""]
    return "\n".join(out)


def to_html(runs: list[RunData], table: dict[str, list[Row]]) -> str:
    from html import escape

    from loadtest.report.html import CSS

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>loadtest compare</title><style>{CSS}</style></head><body>",
        "<h1>loadtest compare</h1>",
    ]
    if not table:
        parts.append(f"<p class='warn'>{NO_TARGET}</p>")
    for label, rows in table.items():
        parts.append(f"<h2>{escape(label)}</h2><table><thead><tr>")
        parts += [f"<th>{escape(h)}</th>" for h in headings(runs)]
        parts.append("</tr></thead><tbody>")
        for r in rows:
            parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells(r)) + "</tr>")
        parts.append("</tbody></table>")
    parts += [f"<p class='meta'>{escape(NOTE)}</p>", "</body></html>\n"]
    return "".join(parts)
