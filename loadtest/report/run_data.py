"""A saved run read back from its directory: summary.json, profile.json, intervals.hlog
(a killed run, without summary.json, has it rebuilt by `loadtest.rebuild`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hdrh.histogram import HdrHistogram

from loadtest import hlog, rebuild
from loadtest.config_reader import ConfigError
from loadtest.schema import Summary, parse_summary
from loadtest.tally import nonzero_buckets, release


@dataclass
class IntervalData:
    """One interval of the log: its span and, per target and metric, its histogram as
    the log has it (encoded: a few hundred bytes, where a decoded one is 170 KB and a
    tally of it tens of KB, so an hour of 1 s intervals stays megabytes)."""

    start_s: float
    length_s: float
    encoded: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def tally(self, target: str, metric: str) -> dict[int, int]:
        """TARGET's METRIC in this interval as {lowest value of a bucket: count}, decoded
        now (empty when nothing was recorded)."""
        blob = self.encoded.get(target, {}).get(metric)
        if blob is None:
            return {}
        h = HdrHistogram.decode(blob)
        out = nonzero_buckets(h)
        release(h)
        return out


@dataclass
class RunData:
    """Everything a report shows about one run."""

    path: Path
    summary: Summary
    intervals: list[IntervalData]
    totals: dict[str, dict[str, HdrHistogram]]  # target -> metric -> whole run

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def targets(self) -> list[str]:
        return list(self.summary["targets"])


def load_run(path: str | Path) -> RunData:
    """Read the run in PATH; a ConfigError names what is missing or broken."""
    d = Path(path)
    summary_path = d / "summary.json"
    if not d.is_dir():
        raise ConfigError(f"{d}: not a run directory")
    if not summary_path.is_file():
        if not (d / rebuild.RESULTS).is_file() or not (d / "profile.json").is_file():
            raise ConfigError(f"{d}: no summary.json and no results.jsonl: not a run directory")
        try:  # a killed run: its summary rebuilt from the files, marked incomplete
            summary = rebuild.rebuild_summary(d)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{d}: cannot rebuild the summary of a killed run ({exc})") from None
    else:
        try:
            summary = parse_summary(summary_path.read_bytes())
        except ValueError as exc:
            raise ConfigError(f"{summary_path}: {exc}") from None
    names = {hlog.target_tag(t): t for t in summary["targets"]}
    intervals, totals = _read_log(d / "intervals.hlog", names)
    return RunData(d, summary, intervals, totals)


def _read_log(
    path: Path, names: dict[str, str]
) -> tuple[list[IntervalData], dict[str, dict[str, HdrHistogram]]]:
    """Intervals in order and their per target and metric sums, from an .hlog file
    (NAMES: a target's tag -> its name in the summary)."""
    by_start: dict[float, IntervalData] = {}
    totals: dict[str, dict[str, HdrHistogram]] = {}
    if not path.is_file():
        return [], totals
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if not line.startswith("Tag="):
            continue
        try:
            tag, start, length, _, encoded = hlog.parse_line(line)
            h = HdrHistogram.decode(encoded)
        except (ValueError, TypeError) as exc:
            if n == len(lines) and not text.endswith("\n"):
                break  # the last line, cut short by a kill mid-write
            raise ConfigError(f"{path}:{n}: not an interval line ({exc})") from None
        tagged, _, metric = tag.rpartition("/")
        target = names.get(tagged, tagged)
        iv = by_start.setdefault(start, IntervalData(start, length))
        if h.get_total_count():
            iv.encoded.setdefault(target, {})[metric] = encoded
        total = totals.setdefault(target, {}).get(metric)
        if total is None:
            totals[target][metric] = h  # the first one becomes the sum
        else:
            total.add(h)
            release(h)
    return [by_start[k] for k in sorted(by_start)], totals
