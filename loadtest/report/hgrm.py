"""HdrHistogram's percentile-distribution text format (.hgrm), as HistogramLogAnalyzer
and the HdrHistogram plotter read it. Values are written in milliseconds."""

from __future__ import annotations

from pathlib import Path

from hdrh.histogram import HdrHistogram

from loadtest.metrics import unit_of
from loadtest.paths import file_safe
from loadtest.report.run_data import RunData
from loadtest.tally import mean_stddev, nonzero_buckets, percentile_steps

TICKS_PER_HALF_DISTANCE = 5


def render(h: HdrHistogram, scale: float) -> str:
    """The .hgrm text of H, values divided by SCALE (1000: microseconds to ms)."""
    out = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}\n\n"]
    tally = nonzero_buckets(h)
    for v, level, count in percentile_steps(tally, TICKS_PER_HALF_DISTANCE):
        value = v / scale
        pct = level / 100
        if level < 100:
            out.append(f"{value:12.3f} {pct:2.12f} {count:10d} {1 / (1 - pct):14.2f}\n")
        else:
            out.append(f"{value:12.3f} {pct:2.12f} {count:10d}\n")
    # hdrh's own writer forgets to scale the standard deviation; this one does not.
    mean, stddev = mean_stddev(tally)
    out.append(
        f"#[Mean    = {mean / scale:12.3f}, "
        f"StdDeviation   = {stddev / scale:12.3f}]\n"
        f"#[Max     = {h.get_max_value() / scale:12.3f}, "
        f"Total count    = {h.get_total_count():12d}]\n"
        f"#[Buckets = {h.bucket_count:12d}, SubBuckets     = {h.sub_bucket_count:12d}]\n"
    )
    return "".join(out)


def write_all(run: RunData, folder: Path) -> list[Path]:
    """One <target>.<metric>.hgrm per recorded metric of the run, in FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for target, metrics in run.totals.items():
        for metric, h in sorted(metrics.items()):
            if not h.get_total_count():
                continue
            _, scale = unit_of(metric)
            path = folder / f"{file_safe(target)}.{metric}.hgrm"
            path.write_text(render(h, scale), encoding="utf-8")
            written.append(path)
    return written
