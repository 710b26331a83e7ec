"""HdrHistogram interval-log (.hlog) lines, as HistogramLogAnalyzer reads them.

hdrh's own log writer writes no Tag and a broken start time, so lines are built here
from `encode()`: `Tag=<target>/<metric>,<start s>,<length s>,<max ms>,<base64>`.
Start times are seconds since the log's StartTime; values are microseconds, so the
max column (in the reader's milliseconds) is max_us / 1000.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from loadtest.records import Interval

_TAG_UNSAFE = re.compile(r"[,\s]")


def header(start_wall_s: float) -> str:
    """The header lines of a log whose intervals count from START_WALL_S (Unix seconds)."""
    human = datetime.fromtimestamp(start_wall_s, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    return (
        "#[Histogram log format version 1.3]\n"
        f"#[StartTime: {start_wall_s:.3f} (seconds since epoch), {human}]\n"
        "#[loadtest: values in microseconds; Interval_Max in milliseconds]\n"
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n'
    )


def target_tag(target: str) -> str:
    """A target's name as it appears in Tags (commas and spaces would break the line)."""
    return _TAG_UNSAFE.sub("_", target)


def tag(target: str, metric: str) -> str:
    """The Tag of one target's metric."""
    return f"{target_tag(target)}/{metric}"


def lines(interval: Interval, run_start_ns: int) -> Iterator[str]:
    """The log lines of one closed interval, one per target and recorded metric."""
    start = (interval.start_ns - run_start_ns) / 1e9
    length = (interval.end_ns - interval.start_ns) / 1e9
    for target, metrics in interval.histograms.items():
        for metric, encoded in metrics.items():
            max_ms = interval.maxima_us[target][metric] / 1000
            yield (
                f"Tag={tag(target, metric)},{start:.3f},{length:.3f},{max_ms:.3f},"
                f"{encoded.decode('ascii')}\n"
            )


def parse_line(line: str) -> tuple[str, float, float, float, bytes]:
    """(tag, start s, length s, max ms, encoded histogram) of one interval line."""
    tagpart, start, length, max_ms, encoded = line.strip().split(",", 4)
    return (
        tagpart.removeprefix("Tag="),
        float(start),
        float(length),
        float(max_ms),
        (encoded.encode("ascii")),
    )
