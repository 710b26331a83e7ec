"""The HTML report: one self-contained file (inline CSS and SVG, no scripts, no fetches)."""

from __future__ import annotations

from html import escape
from typing import Literal

from loadtest.errors import ErrorClass
from loadtest.headroom import Headroom, headroom_of, short
from loadtest.metrics import unit_of
from loadtest.report import server_side, svg
from loadtest.report.client_text import health_line, workers_line
from loadtest.report.run_data import RunData
from loadtest.report.tables import (
    MESSAGE_HEADINGS,
    THRESHOLD_HEADINGS,
    accounting_lines,
    error_lines,
    load_lines,
    message_rows,
    outcome_lines,
    run_line,
    steps_table,
    target_table,
    threshold_rows,
    token_notes,
)
from loadtest.schema import Summary
from loadtest.tally import nonzero_buckets, percentile_steps, tally_percentiles

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;
max-width:1340px;padding:0 16px;color:#1d2733}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#dde3ea;padding-bottom:4px}.meta{color:#5b6b7c}
table{border-collapse:collapse;margin:8px 0}th,td{padding:4px 10px;border-bottom:1px solid
#e6ebf0;text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}
th{background:#f4f6f9}.warn{color:#b3261e;font-weight:600}.ok{color:#1e7a3a}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(560px,100%),1fr));gap:12px}
.scroll{overflow-x:auto;max-width:100%}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #e6ebf0;border-radius:4px}
svg.chart text{font:11px system-ui,sans-serif;fill:#3d4b5a}svg.chart .title{font-weight:600;
font-size:12px}svg.chart .axis{fill:#5b6b7c}svg.chart .grid{stroke:#eef1f5}
svg.chart .series{fill:none;stroke-width:1.8}svg.chart .empty{fill:#8a97a5}
code{background:#f4f6f9;padding:1px 4px;border-radius:3px}
td.wrap{white-space:normal;text-align:left;max-width:640px;font-size:12px;color:#3d4b5a}
"""


def _color(i: int) -> str:
    return svg.target_style(i)[0]


def _series(i: int, label: str, pts: list[tuple[float, float]]) -> svg.Series:
    color, dash = svg.target_style(i)
    return svg.Series(label, pts, color, dash)


def _table(
    headings: tuple[str, ...] | list[str], rows: list[list[str]], wrap_last: bool = False
) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = []
    for r in rows:
        cells = [f"<td>{escape(c)}</td>" for c in r]
        if wrap_last:
            cells[-1] = f"<td class='wrap'>{escape(r[-1])}</td>"
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def distribution_chart(run: RunData, metric: str, title: str) -> str:
    """Latency against percentile on the 1/(1-p) axis, one line per target."""
    _, scale = unit_of(metric)
    series = []
    for i, target in enumerate(run.targets):
        h = run.totals.get(target, {}).get(metric)
        if h is None or not h.get_total_count():
            continue
        # The 100% point lies at infinity on this axis: the line ends at the last finite one.
        pts = [
            (svg.percentile_x(level), value / scale)
            for value, level, _ in percentile_steps(nonzero_buckets(h), 5)
            if level < 100
        ]
        series.append(_series(i, target, pts))
    return svg.line_chart(title, series, "percentile", "ms", svg.PERCENTILE_TICKS)


def over_time_chart(run: RunData, metric: str, percentile: float, title: str) -> str:
    """One percentile of METRIC per interval, a line per target (a chart per percentile:
    nine lines of three targets and three percentiles could not be told apart)."""
    _, scale = unit_of(metric)
    series = []
    for i, target in enumerate(run.targets):
        pts = []
        for iv in run.intervals:
            tally = iv.tally(target, metric)
            if tally:
                v = tally_percentiles(tally, [percentile])  # hdrh's values, from the tally
                pts.append((iv.start_s + iv.length_s / 2, v[percentile] / scale))
        color, dash = svg.target_style(i)
        series.append(svg.Series(target, pts, color, dash))
    return svg.line_chart(title, series, "seconds since start", "ms")


def step_charts(summary: Summary) -> list[str]:
    """For stepped loads: P95 (solid) and P50 (dotted) of TTFT and of E2E against the
    throughput each step achieved, a dot per step, so the knee where latency climbs and
    throughput stops is seen; empty when no target had steps."""
    stepped = [(i, n, t) for i, (n, t) in enumerate(summary["targets"].items()) if t.get("steps")]
    if not stepped:
        return []
    charts = []
    for metric, label in (("ttft", "TTFT"), ("e2e", "E2E")):
        series = []
        for i, name, t in stepped:
            for key in ("p95", "p50"):
                pts = [
                    (st["rates"]["requests_per_s"], st["metrics"][metric][key])
                    for st in t.get("steps", [])
                    if key in st["metrics"][metric]
                ]
                series.append(svg.Series(f"{name} {key}", pts, _color(i), svg.DASHES[key], True))
        charts.append(
            svg.line_chart(
                f"{label} against throughput, a point per load step",
                series,
                "completed requests per second",
                "ms",
            )
        )
    return charts


def _per_interval(
    summary: Summary, field: Literal["completed", "failed"], per_second: bool
) -> list[svg.Series]:
    series = []
    for i, (target, t) in enumerate(summary["targets"].items()):
        pts = []
        for iv in t.get("intervals", []):
            length = iv["length_s"]
            if length <= 0:
                continue
            value = iv[field] / length if per_second else iv[field]
            pts.append((iv["start_s"] + length / 2, float(value)))
        series.append(_series(i, target, pts))
    return series


def _health_charts(summary: Summary) -> list[str]:
    """Loop lag and CPU, each on its own axis (one axis for both read CPU as ms)."""
    per = summary["client_health"].get("per_interval", [])
    lag = [(h["end_s"], h["loop_lag_p99_ms"]) for h in per]
    lag_max = [(h["end_s"], h["loop_lag_max_ms"]) for h in per]
    cpu = [(h["end_s"], h["cpu_percent"]) for h in per]
    return [
        svg.line_chart(
            "Client: event-loop lag per interval",
            [
                svg.Series("p99", lag, svg.PALETTE[3]),
                svg.Series("max", lag_max, svg.PALETTE[3], "4,3"),
            ],
            "seconds since start",
            "ms",
        ),
        svg.line_chart(
            "Client: CPU per interval (% of one core)",
            [svg.Series("CPU", cpu, svg.PALETTE[0])],
            "seconds since start",
            "%",
        ),
    ]


def _rate_limits(summary: Summary) -> str:
    """Headroom as numbers (the latest headers' remaining against limit) and a chart of
    the requests left per interval in percent of the limit; '' when no target sent any
    rate-limit header and none was refused with a 429."""
    rows, series = [], []
    for i, (target, t) in enumerate(summary["targets"].items()):
        hits = [iv for iv in t.get("intervals", []) if iv["errors"].get(ErrorClass.HTTP_429)]
        latest = headroom_of(t.get("rate_limit", {}))
        if not latest and not hits:
            continue

        def cell(kind: str, latest: dict[str, Headroom] = latest) -> str:
            h = latest.get(kind)
            if h is None:
                return "-"
            pct = f" ({h.share:.0%})" if h.share is not None else ""
            return f"{short(h.remaining)} of {short(h.limit)}{pct}"

        rows.append(
            [
                target,
                cell("requests"),
                cell("tokens"),
                str(t["errors"].get(ErrorClass.HTTP_429, 0)),
                ", ".join(f"{iv['start_s']:.0f} s" for iv in hits[:12]) or "-",
            ]
        )
        pts = []
        for iv in t.get("intervals", []):
            h = headroom_of(iv["rate_limit"]).get("requests")
            if h is not None and h.share is not None:
                pts.append((iv["start_s"] + iv["length_s"] / 2, 100 * h.share))
        series.append(_series(i, target, pts))
    if not rows:
        return ""
    heads = ["target", "requests left", "tokens left", "429s", "intervals with 429s"]
    chart = svg.line_chart(
        "Requests left of the rate limit, per interval", series, "seconds since start", "%"
    )
    return "<h2>Rate limits</h2>" + _table(heads, rows) + f"<div class='charts'>{chart}</div>"


def _server_section(run: RunData) -> list[str]:
    """The targets' servers' own metrics beside the client's, when any was scraped."""
    s = run.summary
    found = server_side.servers(s)
    if not found:
        return []
    kinds = sorted({x["server"] or "unrecognized" for x in found.values()})
    out = [
        "<h2>Server side</h2>",
        f"<p class='meta'>From each server's own /metrics ({escape(', '.join(kinds))}), "
        "scraped at every interval boundary; its percentiles (~) are interpolated inside "
        "its histogram buckets, its means exact. Client minus server is the network, the "
        "client, and anything else outside the server.</p>",
    ]
    out += [f"<p class='warn'>{escape(n)}.</p>" for n in server_side.notes(s)]
    table = server_side.rows(s)
    if table:
        out.append(_table(server_side.HEADINGS, table))
    shown = server_side.charts(run)
    if shown:
        out.append("<div class='charts'>" + "".join(shown) + "</div>")
    return out


def render(run: RunData) -> str:
    """The whole report page."""
    s = run.summary
    r = s["run"]
    health = health_line(s)
    versions = ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items())
    errors = error_lines(s)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>loadtest: {escape(s['profile'])} {escape(r['start_utc'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>loadtest: {escape(s['profile'])}</h1>",
        f"<p class='meta'>{escape(run_line(s))}. Host {escape(r.get('host', '?'))}; "
        f"{escape(versions)}.</p>",
        *(f"<p class='meta'>{escape(line)}.</p>" for line in load_lines(s)),
        f"<p class='{'warn' if s['client_health']['saturated_intervals'] else 'ok'}'>"
        f"{escape(health)}</p>",
        *(
            [f"<p class='{'warn' if r.get('partial') else 'meta'}'>{escape(workers)}.</p>"]
            if (workers := workers_line(s))
            else []
        ),
        "<h2>Targets</h2>",
        _table(*target_table(s)),
        "<p class='meta'>Latencies in ms. TTFT from the request's send; ITL every gap "
        "between content events; E2E to the last byte.</p>",
    ]
    headings, steps = steps_table(s)
    if steps:
        parts.append("<h2>Per load step</h2>")
        parts.append(_table(headings, steps))
        parts.append("<div class='charts'>" + "".join(step_charts(s)) + "</div>")
    if errors:
        parts.append("<p class='warn'>Errors: " + escape("; ".join(errors)) + ".</p>")
    said = message_rows(s)
    if said:
        parts += ["<h2>What the servers said</h2>", _table(MESSAGE_HEADINGS, said, True)]
    for line in outcome_lines(s):
        parts.append(f"<p class='meta'>{escape(line)}.</p>")
    for note in token_notes(s):
        parts.append(f"<p class='warn'>{escape(note)}.</p>")
    accounting = accounting_lines(s)
    if accounting:
        parts.append("<p class='meta'>Requests: " + escape("; ".join(accounting)) + ".</p>")
    gates = threshold_rows(s)
    if gates:
        ok = s.get("thresholds_ok", True)
        parts.append(
            f"<h2>Thresholds: <span class='{'ok' if ok else 'warn'}'>"
            f"{'all passed' if ok else 'FAILED'}</span></h2>"
        )
        parts.append(_table(THRESHOLD_HEADINGS, gates))
    parts += [
        "<h2>Latency distribution</h2><div class='charts'>",
        distribution_chart(run, "ttft", "TTFT by percentile"),
        distribution_chart(run, "itl", "Inter-token latency by percentile"),
        distribution_chart(run, "e2e", "End-to-end latency by percentile"),
        distribution_chart(run, "ttft_from_intended", "TTFT from the intended send time"),
        "</div><h2>Over time</h2><div class='charts'>",
        over_time_chart(run, "ttft", 50.0, "TTFT p50 per interval"),
        over_time_chart(run, "ttft", 95.0, "TTFT p95 per interval"),
        over_time_chart(run, "ttft", 99.0, "TTFT p99 per interval"),
        over_time_chart(run, "e2e", 95.0, "E2E p95 per interval"),
        svg.line_chart(
            "Completed requests per second",
            _per_interval(s, "completed", True),
            "seconds since start",
            "req/s",
        ),
    ]
    if any(t["requests"]["failed"] for t in s["targets"].values()):  # a flat zero says nothing
        parts.append(
            svg.line_chart(
                "Failed requests per interval",
                _per_interval(s, "failed", False),
                "seconds since start",
                "requests",
            )
        )
    parts += ["</div>", *_server_section(run)]
    parts += [
        _rate_limits(s),
        "<h2>Client health</h2><div class='charts'>",
        *_health_charts(s),
        "</div>",
        f"<p class='meta'>Files: <code>summary.json</code>, <code>results.jsonl</code>, "
        f"<code>intervals.hlog</code>, <code>hgrm/</code> in {escape(str(run.path))}.</p>",
        "</body></html>\n",
    ]
    return "".join(parts)
