"""Where a run's results go as it goes: small sinks, each owning one output, fanned out.

Each implements the Sink protocol the engine calls (start, request, interval); `Fanout` hands
every call to each of its sinks in order. Files are written as each interval closes, one
batch of whole lines, so a crash or a kill loses at most the open interval.

A write that fails (a full disk, a file system gone read-only) never raises into the
engine: the file is cut back to its last whole line and closed, no more is written to
it, and the `on_fail` callback hears of it once (the runner prints one line and stops
the run, which drains).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from loadtest import hlog
from loadtest.errors import NOT_SERVER_FAILURES, RuntimeFailure
from loadtest.metrics import METRICS, unit_of
from loadtest.records import Health, Interval, RequestRecord, TargetStatus

RESULTS_FILE = "results.jsonl"
INTERVAL_LOG = "intervals.hlog"
_COUNTS = ("output_tokens", "output_speed")  # in the record already, or not per line
_SCALE = {m: unit_of(m)[1] for m in METRICS}  # once, not per request and metric

OnFail = Callable[[str, OSError], None]  # (the file's name, what the write raised)


class LineFile:
    """A file appended in batches of whole lines: after a failed write it is cut back to
    the last complete batch, closed, and written no more."""

    def __init__(self, path: Path, on_fail: OnFail | None = None) -> None:
        self.name = path.name
        self.on_fail = on_fail
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.pending: list[bytes] = []
        self.good = 0  # bytes on disk that end with a whole line
        self.failed: OSError | None = None

    def add(self, data: bytes) -> None:
        """Queue DATA (whole lines) for the next flush."""
        if self.fd is not None:
            self.pending.append(data)

    def flush(self) -> None:
        """Write what was queued; on a failure, cut back, close and tell on_fail once."""
        if self.fd is None or not self.pending:
            return
        batch = memoryview(b"".join(self.pending))
        self.pending.clear()
        try:
            while batch:
                n = os.write(self.fd, batch)
                batch = batch[n:]
        except OSError as exc:
            self._fail(exc)
            return
        self.good = os.lseek(self.fd, 0, os.SEEK_CUR)

    def _fail(self, exc: OSError) -> None:
        fd, self.fd, self.failed = self.fd, None, exc
        assert fd is not None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, self.good)  # no half line: what stays is readable
        with contextlib.suppress(OSError):
            os.close(fd)
        if self.on_fail is not None:
            self.on_fail(self.name, exc)

    def close(self) -> None:
        """Write what is queued, then close the file."""
        self.flush()
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


class Lines(Protocol):
    """Where whole lines go: a LineFile, or a worker's buffer for its parent."""

    def add(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class LineBuffer:
    """Lines kept in memory until taken: a worker process's results, which its parent
    writes to the run's one results.jsonl."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []

    def add(self, data: bytes) -> None:
        """Keep DATA (whole lines)."""
        self.pending.append(data)

    def flush(self) -> None:
        """Nothing: the lines wait to be taken."""

    def close(self) -> None:
        """Nothing: the lines wait to be taken."""

    def take(self) -> bytes:
        """The lines kept so far, as one batch; none are kept after."""
        data = b"".join(self.pending)
        self.pending.clear()
        return data


class Sink(Protocol):
    """Where a shard's results go; the engine calls these on its event loop."""

    def start(self, wall_s: float, start_ns: int) -> None: ...
    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None: ...
    def interval(
        self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]
    ) -> None: ...


LATE_MS = 10.0  # as the engine counts a request late (sent this long after intended)


def count_line(line: Mapping[str, Any], n: Counter[str]) -> None:
    """Add what one request's results line says to N, under the summary's names: the
    `requests` block's keys, `error:<class>` and `tokens:input|output|counted|zero|reasoned`.
    The one reading of a line, shared by the lines a run leaves out and a killed run's
    rebuild."""
    error, went_out = line.get("error"), line.get("sent_ms") is not None
    n["sent"] += went_out
    if not line.get("measured"):
        n["warmup"] += went_out
        return
    if error in NOT_SERVER_FAILURES:  # counted, never recorded
        n[str(error)] += 1
        return
    n["recorded"] += 1
    sent, intended = line.get("sent_ms"), line.get("intended_ms")
    if isinstance(sent, int | float) and isinstance(intended, int | float):
        n["late"] += sent - intended >= LATE_MS
    if error:
        n["failed"] += 1
        n[f"error:{error}"] += 1
        return
    n["completed"] += 1
    n["tokens:input"] += int(line.get("input_tokens") or 0)
    n["tokens:output"] += int(line.get("output_tokens") or 0)
    n["tokens:counted"] += bool(line.get("tokens_counted"))
    n["tokens:zero"] += not line.get("output_tokens")
    n["tokens:reasoned"] += line.get("ttft") is not None and line.get("ttfo") != line.get("ttft")


class ResultsFile:
    """results.jsonl: one line per request, whatever its outcome; times in ms from the
    run's start (None for what never happened, e.g. `sent_ms` of a shed request).

    KEEP (the profile's `records`) thins it for long probes: "errors" writes only the
    requests that did not complete, "none" none. What is left out is not lost: each
    interval, a target's left-out requests become one line of counts,
    {"target", "until_ms", "skipped": {count_line's names}}, so the file still adds up
    to the summary's counts (and a killed run's rebuild finds them)."""

    def __init__(self, file: Lines, keep: str = "all") -> None:
        self.file = file
        self.start_ns = 0
        self.keep = keep
        self._skipped: dict[str, Counter[str]] = {}
        self._until_ns = 0  # the end of the last interval written

    def start(self, wall_s: float, start_ns: int) -> None:
        """Times in the file count from START_NS."""
        self.start_ns = self._until_ns = start_ns

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Append the request's line (or count it in, when KEEP leaves it out)."""
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
        if r.attempts:
            line["attempts"] = r.attempts
            if r.served_by:
                line["served_by"] = r.served_by
        if r.task_id:
            line["task"] = r.task_id
        if r.outcome is not None:
            line["outcome"] = r.outcome
            if r.sim_outcome is not None:
                line["sim_outcome"] = r.sim_outcome
        for k, v in metrics.items():
            if k not in _COUNTS:
                line[k] = round(v / _SCALE[k], 3)
        if self.keep == "none" or (self.keep == "errors" and r.error is None):
            count_line(line, self._skipped.setdefault(r.target, Counter()))  # reads ttft, ttfo
            return
        if detail:
            line["detail"] = detail
        self.file.add(orjson.dumps(line) + b"\n")

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Write what the interval added."""
        self._write_skipped(iv.end_ns)
        self.file.flush()

    def close(self) -> None:
        """Write what is left and close the file."""
        self._write_skipped(self._until_ns)  # none, when the run's last interval closed
        self.file.close()

    def _write_skipped(self, end_ns: int) -> None:
        self._until_ns = end_ns
        until = round((end_ns - self.start_ns) / 1e6, 3)
        for target, n in self._skipped.items():
            if n:
                line = {"target": target, "until_ms": until, "skipped": dict(sorted(n.items()))}
                self.file.add(orjson.dumps(line) + b"\n")
        self._skipped = {}


class IntervalLog:
    """intervals.hlog: one HdrHistogram log line per target and metric per interval."""

    def __init__(self, run_dir: Path, on_fail: OnFail | None = None) -> None:
        self.file = LineFile(run_dir / INTERVAL_LOG, on_fail)
        self.start_ns = 0

    def start(self, wall_s: float, start_ns: int) -> None:
        """Write the log header; interval starts count from START_NS."""
        self.start_ns = start_ns
        self.file.add(hlog.header(wall_s).encode())
        self.file.flush()

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing per request: the log holds histograms."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Append the interval's lines, as one batch."""
        self.file.add("".join(hlog.lines(iv, self.start_ns)).encode())
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


def check_folder(folder: Path, what: str) -> None:
    """Make FOLDER and write a probe file in it; a RuntimeFailure naming it (WHAT: the flag
    or setting that chose it) when it cannot be, before any request is sent."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".loadtest-probe-", dir=folder)
        try:
            os.write(fd, b"x\n")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise RuntimeFailure(f"{what}: cannot write in {folder} ({exc.strerror or exc})") from None


WRITE_STOPS = ("disk full", "write failed")  # how stopped_by starts after a failed write


def stop_reason(name: str, exc: OSError) -> str:
    """The run's stopped_by after writing NAME failed with EXC."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({name})"
    return f"write failed ({name}: {exc.strerror or exc})"
