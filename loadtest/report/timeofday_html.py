"""The time-of-day report as one self-contained HTML page, in the run report's look."""

from __future__ import annotations

from html import escape

from loadtest.peak import DAYS
from loadtest.report import svg
from loadtest.report.html import CSS
from loadtest.report.timeofday_text import (
    TITLE,
    busy_text,
    peak_rows,
    ranking_text,
    target_notes,
    zone_line,
)
from loadtest.timeofday import Options, TargetReport

EXTRA_CSS = """
table.heat td{min-width:34px;text-align:center;font-size:11px;line-height:1.2;padding:3px 2px}
table.heat td small{display:block;color:#1d2733;font-size:10px;opacity:.75}
table.heat td.empty{background:#fafbfc}
.legend{display:flex;align-items:center;gap:8px;font-size:12px;color:#3d4b5a;margin:4px 0}
.legend .bar{width:220px;height:12px;border:1px solid #dde3ea;border-radius:2px}
"""
_STEPS = 6  # stops of the legend's gradient


def _heat(value: float, lo: float, hi: float) -> str:
    """A background from pale (fast) to deep red (slow) for VALUE within [lo, hi]."""
    f = 0.0 if hi <= lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))
    return f"hsl({int(60 - 60 * f)},85%,{int(92 - 42 * f)}%)"


def scale_of(reports: dict[str, TargetReport], metric: str, key: str) -> tuple[float, float] | None:
    """The (lowest, highest) KEY of METRIC over every target's cells: one colour scale,
    so the same shade is the same latency whichever target's map it is in."""
    values = [
        c[key] for r in reports.values() for c in r.cells.get(metric, {}).values() if key in c
    ]
    return (min(values), max(values)) if values else None


def legend(lo: float, hi: float) -> str:
    """The colour scale, from LO to HI ms."""
    stops = ",".join(_heat(lo + (hi - lo) * i / (_STEPS - 1), lo, hi) for i in range(_STEPS))
    return (
        f"<div class='legend'><span>{lo:,.0f} ms</span>"
        f"<span class='bar' style='background:linear-gradient(90deg,{stops})'></span>"
        f"<span>{hi:,.0f} ms</span><span class='meta'>(every target on this scale; the small "
        "number is the cell's samples)</span></div>"
    )


def heatmap(
    rep: TargetReport,
    metric: str = "ttft",
    key: str = "p95",
    scale: tuple[float, float] | None = None,
) -> str:
    """Weekday rows by hour columns; each cell its merged percentile and sample count,
    shaded on SCALE (the report's, shared by every target; the map's own without)."""
    cells = rep.cells.get(metric, {})
    if not cells:
        return "<p class='meta'>no data</p>"
    values = [c[key] for c in cells.values() if key in c]
    lo, hi = scale or (min(values), max(values))
    head = "".join(f"<th>{h:02d}</th>" for h in range(24))
    rows = []
    for d in range(7):
        tds = []
        for h in range(24):
            c = cells.get((d, h))
            if c is None or key not in c:
                tds.append("<td class='empty'></td>")
                continue
            tds.append(
                f"<td style='background:{_heat(c[key], lo, hi)}' "
                f"title='{DAYS[d]} {h:02d}:00 {metric} {key} {c[key]:.0f} ms, "
                f"{c['count']:.0f} samples'>{c[key]:,.0f}<small>{c['count']:.0f}</small></td>"
            )
        rows.append(f"<tr><th>{DAYS[d]}</th>{''.join(tds)}</tr>")
    return (
        f"<div class='scroll'><table class='heat'><thead><tr><th></th>{head}</tr></thead>"
        f"{''.join(rows)}</table></div>"
    )


WEEK_TICKS = [(d * 24.0, f"{DAYS[d]} 00") for d in range(7)] + [(168.0, "")]


def week_overlay(reports: dict[str, TargetReport], key: str = "p95") -> str:
    """Every target's TTFT KEY by hour of the week (its weekday-by-hour cells in a row),
    one line each: which target degrades when, at a glance."""
    series = []
    for i, (name, rep) in enumerate(reports.items()):
        cells = rep.cells.get("ttft", {})
        pts = [(d * 24.0 + h, c[key]) for (d, h), c in sorted(cells.items()) if key in c]
        if pts:
            color, dash = svg.target_style(i)
            series.append(svg.Series(name, pts, color, dash))
    return svg.line_chart(
        f"TTFT {key.upper()} by hour of the week, every target",
        series,
        "hour of the week (report's zone)",
        "ms",
        WEEK_TICKS,
    )


def bands_chart(name: str, rep: TargetReport, metric: str) -> str:
    points = rep.bands.get(metric, [])
    if not points:
        return svg.line_chart(f"{name}: {metric}", [], "hours", "ms")
    t0 = points[0][0]
    series = []
    for key, color, dash in (("p50", 0, "2,3"), ("p95", 3, ""), ("p99", 3, "7,3")):
        pts = [((t - t0).total_seconds() / 3600, s[key]) for t, s in points if key in s]
        series.append(svg.Series(key, pts, svg.PALETTE[color], dash))
    return svg.line_chart(
        f"{name}: {metric.upper()} by calendar hour",
        series,
        f"hours since {t0.strftime('%a %d %b %H:%M')}",
        "ms",
    )


def render(reports: dict[str, TargetReport], opts: Options) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{TITLE}</title><style>{CSS}{EXTRA_CSS}</style></head><body>",
        f"<h1>{TITLE}</h1><p class='meta'>{escape(zone_line(opts))}. Every cell and "
        "window merges its intervals' histograms.</p>",
        "<h2>Peak against off-peak</h2><div class='scroll'><table><thead><tr><th>target</th>"
        "<th>metric</th>"
        "<th>off-peak p50</th><th>p95</th><th>p99</th><th>peak p50</th><th>p95</th><th>p99</th>"
        "<th>P95 ratio</th><th>95% CI</th></tr></thead><tbody>",
    ]
    for cells in peak_rows(reports, ("p50", "p95", "p99")):
        parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    parts.append("</tbody></table></div>")
    if ranking_text(reports):
        parts.append(f"<p>{escape(ranking_text(reports))}</p>")
    if busy_text(reports):
        parts.append(f"<p class='warn'>{escape(busy_text(reports))}</p>")
    if any(r.cells.get("ttft") for r in reports.values()):
        parts.append(f"<div class='charts'>{week_overlay(reports)}</div>")
    scales = {key: scale_of(reports, "ttft", key) for key in opts.heatmaps}
    for name, rep in reports.items():
        parts.append(f"<h2>{escape(name)}</h2>")
        parts += [f"<p>{escape(n)}</p>" for n in target_notes(rep, opts)]
        for key in opts.heatmaps:
            parts.append(f"<h3>TTFT {key.upper()} by weekday and hour (ms; samples)</h3>")
            scale = scales[key]
            if scale is not None:
                parts.append(legend(*scale))
            parts.append(heatmap(rep, "ttft", key, scale))
        parts.append("<div class='charts'>")
        parts += [bands_chart(name, rep, m) for m in ("ttft", "e2e")]
        parts.append("</div>")
        if rep.spikes:
            parts.append(
                f"<h3>Spikes: TTFT P95 over {opts.spike_factor:g}x off-peak "
                f"({len(rep.spikes)})</h3>"
            )
            parts.append("<table><thead><tr><th>start</th><th>p95 ms</th><th>x off-peak</th>")
            parts.append("</tr></thead><tbody>")
            for sp in sorted(rep.spikes, key=lambda x: -x["p95_ms"])[:30]:
                parts.append(
                    f"<tr><td>{escape(sp['start'])}</td><td>{sp['p95_ms']:,.0f}</td>"
                    f"<td>{sp['times_baseline']:.1f}</td></tr>"
                )
            parts.append("</tbody></table>")
        failing = {
            h: e for h, e in rep.errors_by_hour.items() if e["error_rate"] or e["http_429_rate"]
        }
        if failing:  # only the hours where something failed: a table of zeros says nothing
            parts.append("<h3>Errors and 429s by hour</h3><table><thead><tr><th>hour</th>")
            parts.append(
                "<th>requests</th><th>error rate</th><th>429 rate</th></tr></thead><tbody>"
            )
            for h, e in failing.items():
                parts.append(
                    f"<tr><td>{h:02d}:00</td><td>{e['requests']:.0f}</td>"
                    f"<td>{e['error_rate']:.2%}</td><td>{e['http_429_rate']:.2%}</td></tr>"
                )
            parts.append("</tbody></table>")
    parts.append("</body></html>\n")
    return "".join(parts)
