"""`loadtest run --workers N`: one run over N worker processes, merged as it goes.

The parent spawns the workers (loadtest.worker), each with its share of the load
(loadtest.share), waits until every one has loaded and opened its sessions, and gives
them all one start instant a moment ahead (on one machine the monotonic clock is
shared), so warm-up, steps and interval boundaries fall together. Then it only
listens: each worker's intervals and results lines arrive as they close, loadtest.merge
adds them up, and the parent's sinks (results.jsonl, intervals.hlog, the dashboard)
get one run's intervals, as from one process.

Faults: a worker that dies, or says nothing for HANG_INTERVALS intervals (at least
HANG_MIN_S), is named with its last error and left out from then on; what it sent
stays; the others finish; the run is partial. Signals: the first Ctrl-C (or SIGTERM,
SIGHUP) tells every worker to drain, the second to stop now; whatever happens, no
worker outlives the parent's return (those still there after CANCEL_GRACE_S are
killed).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from loadtest.errors import RuntimeFailure
from loadtest.loop import new_event_loop, stop_signals
from loadtest.merge import Merge, Merged, WorkerEnd, WorkerHealth, WorkerInterval
from loadtest.recorder import Recorder
from loadtest.records import Health, Interval, RequestRecord, TargetStatus
from loadtest.schema import WorkerRow
from loadtest.shard_io import RunResult, ShardSpec
from loadtest.share import Share, shard_profile
from loadtest.sinks import Lines, Sink
from loadtest.thresholds import lost_gate
from loadtest.worker_process import ProcessHandle

READY_TIMEOUT_S = 60.0  # to spawn, import, and open sessions
START_AHEAD_S = 0.2  # the start instant, this far after the start message goes out
HANG_INTERVALS = 5
HANG_MIN_S = 15.0
CANCEL_GRACE_S = 5.0
PARTIAL = "partial"


class Handle(Protocol):
    """One worker, however it runs: a local process (ProcessHandle) or a Ray actor."""

    def listen(self, heard: Callable[[tuple[Any, ...]], None], gone: Callable[[], None]) -> None:
        """Hand each message to HEARD, on the parent's loop; GONE once it has ended."""

    def send(self, msg: tuple[Any, ...]) -> None:
        """A message to the worker (lost without a word if it is gone)."""

    def ended(self) -> str:
        """How it ended, once GONE was called ('exit code 1', 'killed by SIGKILL')."""

    def kill(self) -> None:
        """End it now."""

    def close(self, grace_s: float) -> None:
        """Let it end within GRACE_S, then kill it: it does not outlive this call."""


Spawn = Callable[[ShardSpec], Handle]


@dataclass
class WorkerState:
    """The parent's view of one worker."""

    k: int
    handle: Handle
    pid: int = 0
    node: str = ""  # where it runs, when not this machine
    clock_offset_ms: float | None = None  # its wall clock against ours, on a cluster
    state: str = "starting"  # running, done, crashed, hung
    error: str = ""  # its last words, or how it ended
    last_word: float = 0.0  # time.monotonic() of its latest message

    @property
    def active(self) -> bool:
        """Still expected to send."""
        return self.state in ("starting", "running")


class Flush:
    """The Sink that writes results.jsonl as each merged interval closes (the workers'
    lines are added to LINES as they arrive)."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines

    def start(self, wall_s: float, start_ns: int) -> None:
        """Nothing: the lines carry their own times."""

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing: the parent sees no request, only the workers' lines."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Write the lines that came in so far."""
        self.lines.flush()


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Workers:
    """N worker processes of SPEC's run, merged into SINK (and LINES, results.jsonl)."""

    def __init__(
        self,
        spec: ShardSpec,
        n: int,
        sink: Sink,
        lines: Lines,
        say: Callable[[str], None] = lambda _: None,
        spawn: Spawn | None = None,
        start_ahead_s: float = START_AHEAD_S,
    ) -> None:
        self.spec = spec
        self.spawn: Spawn = spawn or ProcessHandle
        self.start_ahead_s = start_ahead_s
        self.p = spec.profile
        self.n = n
        self.sink = sink
        self.lines = lines
        self.say = say
        self.workers: list[WorkerState] = []
        self.stopped_by = ""  # the parent's reason, when it stopped the run
        self.cancelled = False
        self.merge: Merge | None = None
        self.start_wall_s = 0.0
        self._ready: asyncio.Future[None] | None = None
        self._over: asyncio.Event | None = None
        targets = [t.name for t in self.p.targets]
        highest_us = int(max(self.p.timeouts.total_s, self.p.duration_s + 60) * 1_000_000)
        self.recorder = Recorder(targets, highest_us, 0, self.p.slo)

    # --- control ----------------------------------------------------------------------

    def stop(self, reason: str = "stopped") -> None:
        """Every worker drains: no new requests (the first reason given stands)."""
        if not self.stopped_by:
            self.stopped_by = reason
            self._tell(("stop", reason))

    def cancel(self) -> None:
        """Every worker stops now; those that have not ended in CANCEL_GRACE_S are killed."""
        if not self.cancelled:
            self.cancelled = True
            self.stopped_by = self.stopped_by or "interrupted"
            self._tell(("cancel",))

    def _tell(self, msg: tuple[Any, ...]) -> None:
        for w in self.workers:
            if w.active:
                w.handle.send(msg)

    # --- the run ----------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Spawn, start, merge until every worker has ended; then the run's result."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._over = asyncio.Event()
        try:
            for k in range(self.n):
                share = Share(k, self.n)
                spec = ShardSpec(
                    shard_profile(self.p, share), self.spec.base_urls, self.spec.env, share
                )
                w = WorkerState(k, self.spawn(spec), last_word=time.monotonic())
                self.workers.append(w)
                w.handle.listen(functools.partial(self._heard, w), functools.partial(self._gone, w))
            try:
                await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT_S)
            except TimeoutError:
                late = [str(w.k) for w in self.workers if w.state == "starting"]
                raise RuntimeFailure(
                    f"--workers: worker {', '.join(late)} not ready in {READY_TIMEOUT_S:.0f} s"
                ) from None
            start_ns = time.perf_counter_ns() + int(self.start_ahead_s * 1e9)
            self.start_wall_s = time.time() + self.start_ahead_s
            targets = [t.name for t in self.p.targets]
            self.merge = Merge(
                targets, self.n, start_ns, self.p.interval_s, self.recorder, self.p.warmup_s
            )
            self.sink.start(self.start_wall_s, start_ns)
            self._tell(("start", start_ns, self.start_wall_s))
            watch = asyncio.create_task(self._watchdog())
            try:
                await self._over.wait()
            finally:
                watch.cancel()
            return self.merge.result(self.start_wall_s, time.time(), self._reason())
        finally:
            self._close()

    def _reason(self) -> str:
        if self.stopped_by:
            return self.stopped_by
        ends = [w for w in self.workers if w.state == "done"]
        assert self.merge is not None
        said = [self.merge.ends[w.k].stopped_by for w in ends if w.k in self.merge.ends]
        return next((s for s in said if s != "done"), said[0] if said else PARTIAL)

    def _close(self) -> None:
        """No worker outlives this: ended ones are joined, the rest killed."""
        deadline = time.monotonic() + (CANCEL_GRACE_S if self.cancelled else 1.0)
        for w in self.workers:
            w.handle.close(max(0.0, deadline - time.monotonic()))

    # --- what the workers say -----------------------------------------------------------

    def _heard(self, w: WorkerState, msg: tuple[Any, ...]) -> None:
        w.last_word = time.monotonic()
        kind = msg[0]
        if kind == "ready":
            hello: dict[str, Any] = msg[1]
            w.pid, w.node, w.state = int(hello["pid"]), str(hello.get("node", "")), "running"
            w.clock_offset_ms = hello.get("clock_offset_ms")
            if all(x.state == "running" for x in self.workers):
                assert self._ready is not None
                if not self._ready.done():
                    self._ready.set_result(None)
        elif kind == "interval" and self.merge is not None:
            part: WorkerInterval = msg[1]
            self.lines.add(part.lines)
            self._emit(self.merge.add(part))
        elif kind == "end" and self.merge is not None:
            end: WorkerEnd = msg[1]
            self.lines.add(end.lines)
            w.state = "done"
            self._emit(self.merge.end(end))
            self._maybe_over()
        elif kind == "error":
            w.error = str(msg[1])

    def _gone(self, w: WorkerState) -> None:
        if not w.active:
            return
        how = w.handle.ended()
        self._lost(w, "crashed", f"{w.error}; {how}" if w.error else how)

    def _lost(self, w: WorkerState, state: str, why: str) -> None:
        was_starting = w.state == "starting"
        w.state, w.error = state, why
        if was_starting and self._ready is not None and not self._ready.done():
            said = (
                "stopped (Ctrl-C twice) before every worker was ready: no load was sent"
                if self.cancelled
                else f"worker {w.k} {state} before it was ready ({why})"
            )
            self._ready.set_exception(RuntimeFailure(f"--workers: {said}"))
            return
        self.say(f"worker {w.k} {state}: {why}; the run goes on without it (partial)")
        if self.merge is not None:
            self._emit(self.merge.lose(w.k))
        self._maybe_over()

    def _maybe_over(self) -> None:
        if not any(x.active for x in self.workers):
            assert self._over is not None
            self._over.set()

    def _emit(self, merged: list[Merged]) -> None:
        for iv, health, status in merged:
            self.sink.interval(iv, health, status)
            if self.p.abort_on_fail and not self.stopped_by:
                gate = lost_gate(self.p.thresholds, self.recorder.total_counts, status)
                if gate is not None:
                    self.stop(f"threshold {gate}")

    async def _watchdog(self) -> None:
        hang_s = max(HANG_INTERVALS * self.p.interval_s, HANG_MIN_S)
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for w in self.workers:
                if w.state == "running" and now - w.last_word > hang_s:
                    w.handle.kill()
                    self._lost(w, "hung", f"no word for {now - w.last_word:.0f} s, killed")

    def report(self) -> list[WorkerRow]:
        """Each worker, for the summary: its pid, how it ended, its client's health."""
        healths = self.merge.workers if self.merge is not None else []
        out = []
        for w in self.workers:
            h = healths[w.k] if w.k < len(healths) else WorkerHealth()
            row: WorkerRow = {
                "worker": w.k,
                "pid": w.pid,
                "state": w.state,
                "intervals": h.intervals,
                "saturated_intervals": h.saturated,
                "saturated_by": dict(sorted(h.causes.items())),
                "cpu_percent_mean": round(h.cpu_mean, 1),
                "loop_lag_max_ms": round(h.lag_max_ms, 2),
            }
            if w.error:
                row["error"] = w.error
            if w.node:
                row["node"] = w.node
            if w.clock_offset_ms is not None:
                row["clock_offset_ms"] = w.clock_offset_ms
            out.append(row)
        return out

    @property
    def partial(self) -> bool:
        """Whether a worker was lost: its share of the run is missing from then on."""
        return any(w.state in ("crashed", "hung") for w in self.workers)


def drive(workers: Workers) -> RunResult:
    """Run WORKERS on a new event loop, with the parent's signals: the first Ctrl-C,
    SIGTERM or SIGHUP drains every worker, a second Ctrl-C stops them now."""

    async def main() -> RunResult:
        with stop_signals(workers.stop, workers.cancel, workers.say):
            return await workers.run()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())
