"""Where a run's results go as it goes: small sinks, each owning one output, fanned out.

Each implements the Sink protocol the engine calls (start, request, interval); `Fanout` hands
every call to each of its sinks in order. Files are flushed as each interval closes,
so a crash or a kill loses at most the open interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from loadtest import hlog
from loadtest.metrics import METRICS, unit_of
from loadtest.records import Health, Interval, RequestRecord, TargetStatus

RESULTS_FILE = "results.jsonl"
INTERVAL_LOG = "intervals.hlog"
_COUNTS = ("output_tokens", "output_speed")  # in the record already, or not per line
_SCALE = {m: unit_of(m)[1] for m in METRICS}  # once, not per request and metric


class Sink(Protocol):
    """Where a shard's results go; the engine calls these on its event loop."""

    def start(self, wall_s: float, start_ns: int) -> None: ...
    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None: ...
    def interval(
        self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]
    ) -> None: ...


class ResultsFile:
    """results.jsonl: one line per request, whatever its outcome; times in ms from the
    run's start (None for what never happened, e.g. `sent_ms` of a shed request)."""

    def __init__(self, run_dir: Path) -> None:
        self.file: IO[bytes] = open(run_dir / RESULTS_FILE, "wb")  # noqa: SIM115
        self.start_ns = 0

    def start(self, wall_s: float, start_ns: int) -> None:
        """Times in the file count from START_NS."""
        self.start_ns = start_ns

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Append the request's line."""
        t0 = self.start_ns
        line: dict[str, Any] = {
            "target": r.target,
            "intended_ms": round((r.intended_ns - t0) / 1e6, 3),
            "sent_ms": round((r.sent_ns - t0) / 1e6, 3) if r.sent_ns else None,
            "status": r.status,
            "error": r.error,
            "measured": measured,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "tokens_counted": r.tokens_counted,
        }
        for k, v in metrics.items():
            if k not in _COUNTS:
                line[k] = round(v / _SCALE[k], 3)
        if detail:
            line["detail"] = detail
        self.file.write(orjson.dumps(line) + b"\n")

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Flush what the interval added."""
        self.file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self.file.close()


class IntervalLog:
    """intervals.hlog: one HdrHistogram log line per target and metric per interval."""

    def __init__(self, run_dir: Path) -> None:
        self.file: IO[str] = open(run_dir / INTERVAL_LOG, "w", encoding="utf-8")  # noqa: SIM115
        self.start_ns = 0

    def start(self, wall_s: float, start_ns: int) -> None:
        """Write the log header; interval starts count from START_NS."""
        self.start_ns = start_ns
        self.file.write(hlog.header(wall_s))

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing per request: the log holds histograms."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Append the interval's lines and flush."""
        for text in hlog.lines(iv, self.start_ns):
            self.file.write(text)
        self.file.flush()

    def close(self) -> None:
        """Close the file."""
        self.file.close()


class Fanout:
    """Hands each call to every sink, in order."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)

    def start(self, wall_s: float, start_ns: int) -> None:
        """The run has started."""
        for s in self.sinks:
            s.start(wall_s, start_ns)

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """One request has ended (or was never sent)."""
        for s in self.sinks:
            s.request(r, metrics, detail, measured)

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """An interval has closed."""
        for s in self.sinks:
            s.interval(iv, health, status)
