"""The time-of-day report in Markdown: short enough for a pull request or a chat message."""

from __future__ import annotations

from loadtest.report import timeofday_text as text
from loadtest.timeofday import Options, TargetReport


def render(reports: dict[str, TargetReport], opts: Options) -> str:
    """Peak against off-peak per target, the ranking, slow hours and the heatmaps."""
    out = [
        f"## {text.TITLE}",
        "",
        text.zone_line(opts) + ".",
        "",
        "| target | metric | off-peak p50 | p95 | peak p50 | p95 | P95 ratio | 95% CI |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    out += ["| " + " | ".join(row) + " |" for row in text.peak_rows(reports, ("p50", "p95"))]
    if text.ranking_text(reports):
        out += ["", text.ranking_text(reports)]
    if text.busy_text(reports):
        out += ["", f"**{text.busy_text(reports)}**"]
    for t, r in reports.items():
        out += ["", f"### {t}", ""]
        out += [n + "  " for n in text.target_notes(r, opts)]
        for key in opts.heatmaps:
            rows = text.heat_rows(r, key)
            if not rows:
                continue
            out += ["", f"TTFT {key.upper()} (ms) by weekday and hour:", ""]
            out.append("| day | " + " | ".join(f"{h:02d}" for h in range(24)) + " |")
            out.append("| --- |" + " ---: |" * 24)
            out += [
                f"| {day} | " + " | ".join("" if v is None else f"{v:,.0f}" for v in vals) + " |"
                for day, vals in rows
            ]
    out.append("")
    return "\n".join(out)
