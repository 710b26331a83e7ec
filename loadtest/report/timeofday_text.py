"""What every format of the time-of-day report shows, as text and cells: the peak table,
the heatmap grid, each target's notes and the ranking (pure). Markdown, the terminal
and HTML lay them out; the numbers come from `loadtest.timeofday`."""

from __future__ import annotations

from loadtest.peak import DAYS
from loadtest.timeofday import Options, TargetReport, steadiest

TITLE = "loadtest: latency by time of day"


def zone_line(opts: Options) -> str:
    """'Zone America/New_York; peak = Mon, Tue, Wed, Thu, Fri 09:00-17:00'."""
    return f"Zone {opts.tz}; peak = {opts.window.describe()}"


def hour_ranges(hours: list[int]) -> str:
    """[9, 10, 11, 14] -> '09:00-12:00, 14:00-15:00'; 'none' when empty."""
    spans: list[list[int]] = []
    for h in sorted(hours):
        if spans and spans[-1][1] == h:
            spans[-1][1] = h + 1
        else:
            spans.append([h, h + 1])
    return ", ".join(f"{a:02d}:00-{b:02d}:00" for a, b in spans) or "none"


def slow_hours_text(rep: TargetReport) -> str:
    """'weekdays 09:00-17:00; weekend none'."""
    return "; ".join(f"{k} {hour_ranges(v)}" for k, v in rep.slow_hours.items())


def _ms(stats: dict[str, float], key: str) -> str:
    v = stats.get(key)
    return "-" if v is None else f"{v:,.0f}"


def peak_rows(reports: dict[str, TargetReport], keys: tuple[str, ...]) -> list[list[str]]:
    """Per target and metric: target, metric, off-peak and peak values of KEYS (ms), the
    P95 ratio and its 95% interval, as text."""
    rows = []
    for t, r in reports.items():
        for metric, e in r.peak.items():
            ratio, ci = e.get("ratio_p95"), e.get("ratio_p95_ci95")
            rows.append(
                [
                    t,
                    metric,
                    *(_ms(e["off_peak"], k) for k in keys),
                    *(_ms(e["peak"], k) for k in keys),
                    "-" if ratio is None else f"{ratio:.2f}x",
                    "-" if not ci else f"{ci[0]:.2f}x-{ci[1]:.2f}x",
                ]
            )
    return rows


def heat_rows(
    rep: TargetReport, key: str, metric: str = "ttft"
) -> list[tuple[str, list[float | None]]]:
    """Rows of a weekday-by-hour map of KEY in ms (None for an empty cell), for the days
    that have data; columns are the hours 00-23."""
    cells = rep.cells.get(metric, {})
    return [
        (DAYS[d], [cells.get((d, h), {}).get(key) for h in range(24)])
        for d in range(7)
        if any((d, h) in cells for h in range(24))
    ]


def busy_text(reports: dict[str, TargetReport]) -> str:
    """The warning when many probes were left out: '' when none needs it."""
    busy = [(t, r.trust) for t, r in reports.items() if r.trust.busy()]
    if not busy:
        return ""
    left = sum(tr.left_out for _, tr in busy)
    total = sum(tr.left_out + tr.probes for _, tr in busy)
    return (
        f"Warning: the client was saturated in {left} of {total} probes of "
        f"{', '.join(t for t, _ in busy)}: the machine was too busy for this load (or time "
        "warp). Those probes are left out and the figures stand on the rest, with fewer "
        "samples and gaps; rerun on a quieter machine, with fewer probes at once "
        "(max_running) or a slower time warp."
    )


def target_notes(rep: TargetReport, opts: Options) -> list[str]:
    """The sentences under a target's heading: what it stands on, slow hours, spikes."""
    notes = rep.trust.notes()
    if rep.median_hour_p95_ms is not None:
        notes.append(
            f"Slow hours (TTFT P95 at {opts.slow_factor:g}x the median hour's "
            f"{rep.median_hour_p95_ms:,.0f} ms or more): {slow_hours_text(rep)}."
        )
    if rep.spikes:
        worst = max(rep.spikes, key=lambda s: s["p95_ms"])
        notes.append(
            f"Spikes (intervals with TTFT P95 over {opts.spike_factor:g}x off-peak): "
            f"{len(rep.spikes)}, worst {worst['start']} at {worst['p95_ms']:,.0f} ms."
        )
    return notes


def ranking_text(reports: dict[str, TargetReport]) -> str:
    """'Steadiest first (TTFT P95, peak / off-peak): a 1.10x, b 2.31x.' or ''."""
    ranked = steadiest(reports)
    if not ranked:
        return ""
    return (
        "Steadiest first (TTFT P95, peak / off-peak): "
        + ", ".join(f"{t} {r:.2f}x" for t, r in ranked)
        + "."
    )
