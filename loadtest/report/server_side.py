"""The server's own metrics in the reports: a table of the server's figures beside the
client's, and charts on the client's time axis (pure: summary and intervals in, text
out)."""

from __future__ import annotations

from loadtest.metrics import unit_of
from loadtest.report import svg
from loadtest.report.run_data import RunData
from loadtest.schema import ServerInterval, ServerMetric, ServerSide, Summary
from loadtest.tally import tally_percentiles

HEADINGS = ["target", "metric", "server mean", "p50 ~", "p95 ~", "client mean", "p50", "p95"]
HEADINGS += ["client − server mean"]
_NAMES = {"ttft": "TTFT", "itl": "ITL", "e2e": "E2E", "queue": "queue", "prefill": "prefill"}


def _f(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def _bound(m: ServerMetric, key: str) -> str:
    """A server percentile; '<=' before one that is only the first bucket's bound."""
    v = m["p50"] if key == "p50" else m["p95"]
    return ("<=" if key in m.get("at_most", []) else "") + _f(v)


def servers(summary: Summary) -> dict[str, ServerSide]:
    """The targets whose server's metrics were scraped, by name."""
    return {n: t["server"] for n, t in summary["targets"].items() if "server" in t}


def rows(summary: Summary) -> list[list[str]]:
    """A row per target and metric the server reports (ms; ~ interpolated)."""
    out = []
    for name, s in servers(summary).items():
        client = summary["targets"][name]["metrics"]
        for key, m in s["metrics"].items():
            c = client.get(key)
            have = c is not None and c.get("count")
            diff = s["client_minus_server"].get(key, {}).get("mean")
            out.append(
                [
                    name,
                    _NAMES.get(key, key),
                    _f(m["mean"]),
                    _bound(m, "p50"),
                    _bound(m, "p95"),
                    _f(c.get("mean")) if c and have else "",
                    _f(c.get("p50")) if c and have else "",
                    _f(c.get("p95")) if c and have else "",
                    _f(diff) if diff is not None else "",
                ]
            )
    return out


def notes(summary: Summary) -> list[str]:
    """A line per target whose server's metrics are missing or had failed scrapes."""
    out = []
    for name, s in servers(summary).items():
        if not s["scrapes"]:
            out.append(f"{name}: no server metrics at {s['source']} ({s.get('note', '')})")
        elif s["failed_scrapes"]:
            out.append(
                f"{name}: {s['failed_scrapes']} of {s['scrapes'] + s['failed_scrapes']} "
                f"scrapes of {s['source']} failed (last: {s.get('note', '')})"
            )
    return out


def _client_points(run: RunData, target: str, metric: str, p: float) -> list[tuple[float, float]]:
    _, scale = unit_of(metric)
    pts = []
    for iv in run.intervals:
        tally = iv.tally(target, metric)
        if tally:
            v = tally_percentiles(tally, [p])[p]
            pts.append((iv.start_s + iv.length_s / 2, v / scale))
    return pts


def _mid(r: ServerInterval) -> float:
    return r["start_s"] + r["length_s"] / 2


def charts(run: RunData) -> list[str]:
    """Per target with a server: TTFT p95 per interval of the client and the server on
    one time axis; the server's running and waiting requests, and its queue time."""
    out = []
    for i, (name, s) in enumerate(servers(run.summary).items()):
        color = svg.target_style(i)[0]
        per = s["per_interval"]

        server_p95 = [(_mid(r), v) for r in per if (v := r.get("ttft_p95")) is not None]
        server_mean = [(_mid(r), v) for r in per if (v := r.get("ttft_mean")) is not None]
        if server_p95:
            out.append(
                svg.line_chart(
                    f"{name}: TTFT per interval, client and server",
                    [
                        svg.Series("client p95", _client_points(run, name, "ttft", 95.0), color),
                        svg.Series("server p95 ~", server_p95, color, "6,3"),
                        svg.Series("server mean", server_mean, svg.PALETTE[7], "2,3"),
                    ],
                    "seconds since start",
                    "ms",
                )
            )
        running = [(_mid(r), float(r["running"])) for r in per if "running" in r]
        waiting = [(_mid(r), float(r["waiting"])) for r in per if "waiting" in r]
        if running or waiting:
            out.append(
                svg.line_chart(
                    f"{name}: the server's requests at each interval's end",
                    [
                        svg.Series("running", running, color),
                        svg.Series("waiting", waiting, svg.PALETTE[3], "6,3"),
                    ],
                    "seconds since start",
                    "requests",
                )
            )
    return out
