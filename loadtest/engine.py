"""The load engine: drives every target of a shard at once and records what users see.

A shard (a picklable ShardSpec in, intervals and records out through a Sink) is the
unit of work, so a later step can run shards in several processes. Within a shard:

- closed loop: `concurrency` workers per target, each sending its next request as
  soon as the previous one ends; stepped concurrency parks the extra workers;
- open loop: an absolute schedule of intended send times (loadtest.arrivals). When
  `max_in_flight` requests are already out, a due request waits for a slot and is
  counted late (its latency from the intended time shows the wait); beyond a backlog
  of MAX_BACKLOG waiting requests, it is shed (counted, never sent). Sending never
  silently slows down: coordinated omission cannot hide a stall.

Warm-up requests are sent but not recorded. Stop: duration, a request count per
target, or the error budget. stop() ends new sends and lets in-flight ones finish.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from loadtest.arrivals import Segment, offsets, segments
from loadtest.loop import short_gc_pauses
from loadtest.metrics import RequestRecord, derive
from loadtest.profile import Load, Profile, Target
from loadtest.providers import PARSERS
from loadtest.providers.build import RequestBuilder, builder
from loadtest.recorder import Interval, Recorder, TargetCounts
from loadtest.thresholds import doomed
from loadtest.transport import new_session, proxy_for, send
from loadtest.workload import PromptSource

LATE_NS = 10_000_000  # a request sent 10 ms or more after its intended time is "late"
MIN_FOR_BUDGET = 20  # the error budget is judged once this many requests are recorded
LAG_PROBE_S = 0.02
DRAIN_MAX_S = 30.0  # after stop(), in-flight requests get at most this long to finish
MAX_BACKLOG = 10_000  # due requests waiting for an in-flight slot; beyond this they are shed


class Sink(Protocol):
    """Where a shard's results go (files, a live view); called on the event loop."""

    def start(self, wall_s: float, start_ns: int) -> None: ...
    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None: ...
    def interval(self, iv: Interval, health: Health) -> None: ...


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs; picklable."""

    profile: Profile
    base_urls: tuple[tuple[str, str], ...]  # target name -> resolved base URL
    env: tuple[tuple[str, str], ...] = ()  # API key variables, read by the parent


@dataclass
class Health:
    """The client's own state over one interval: a saturated client says so."""

    end_ns: int = 0  # the end of the interval it describes
    loop_lag_max_ms: float = 0.0
    loop_lag_p99_ms: float = 0.0
    cpu_percent: float = 0.0

    @property
    def saturated(self) -> bool:
        """A lagging loop or a busy core means measured latency includes our own delay."""
        return self.loop_lag_p99_ms > 10.0 or self.cpu_percent > 90.0


@dataclass
class TargetRun:
    """Counters of one target, kept by the engine (the recorder has the histograms)."""

    target: Target
    load: Load
    builder: RequestBuilder
    sent: int = 0
    recorded: int = 0
    measured_started: int = 0
    failed: int = 0
    in_flight: int = 0
    waiting: int = 0
    late: int = 0
    shed: int = 0
    abandoned: int = 0  # in flight when the drain ended or a second Ctrl-C came
    stopped_by: str = ""
    next_prompt: int = 0
    slots: asyncio.Semaphore | None = None
    proxy: str | None = None


@dataclass
class RunResult:
    """What a finished shard hands back."""

    recorder: Recorder
    targets: dict[str, TargetRun]
    start_wall_s: float
    end_wall_s: float
    start_ns: int
    end_ns: int
    stopped_by: str
    health: list[Health] = field(default_factory=list)
    timeline: list[tuple[int, int, dict[str, TargetCounts]]] = field(default_factory=list)
    sim_marks: list[tuple[int, str]] = field(default_factory=list)


class Engine:
    """One shard's run."""

    def __init__(
        self, spec: ShardSpec, sink: Sink, clock: Callable[[], int] = time.perf_counter_ns
    ) -> None:
        self.spec = spec
        self.p = spec.profile
        self.sink = sink
        self.clock = clock
        self.prompts = PromptSource(self.p.workload, self.p.seed)
        env = dict(spec.env)
        urls = dict(spec.base_urls)
        self.runs = {
            t.name: TargetRun(t, self.p.load_of(t), builder(t, self.p.workload, urls[t.name], env))
            for t in self.p.targets
        }
        highest_us = int(max(self.p.timeouts.total_s, self.p.duration_s + 60) * 1_000_000)
        self.recorder = Recorder(self.runs, highest_us, 0)
        self._stopping = asyncio.Event()
        self.stopped_by = ""
        self._lags: list[float] = []
        self._rolling: asyncio.Task[None] | None = None  # the interval roll under way
        self.sim_marks: list[tuple[int, str]] = []  # (perf ns, x-sim-time): first, latest
        self.health: list[Health] = []
        self._cpu_mark = (0.0, 0)
        # Each closed interval's counters (errors, 429s, rate-limit headers), for the summary.
        self.timeline: list[tuple[int, int, dict[str, TargetCounts]]] = []

    def stop(self, reason: str = "stopped") -> None:
        """Send no new requests; in-flight ones finish (bounded by their timeouts)."""
        if not self._stopping.is_set():
            self.stopped_by = reason
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether stop() was called or a stop condition was met."""
        return self._stopping.is_set()

    async def run(self) -> RunResult:
        """Run every target until a stop condition; returns totals and counters."""
        p = self.p
        # Sessions (and their TLS contexts, tens of ms each) exist before the clock starts.
        sessions = {}
        for name, tr in self.runs.items():
            conns = max(
                tr.load.concurrency,
                tr.load.max_in_flight if tr.load.mode == "open" else 0,
                *(s.concurrency or 0 for s in tr.load.steps),
            )
            sessions[name] = new_session(p.timeouts, conns)
            tr.proxy = proxy_for(tr.builder.url)
        # The collector is tamed before the clock starts (its first full collection
        # is not anyone's latency).
        with short_gc_pauses(asyncio.get_running_loop()):
            self.start_wall_s = time.time()
            self.start_ns = self.clock()
            self.sink.start(self.start_wall_s, self.start_ns)
            self._cpu_mark = (time.process_time(), self.start_ns)
            self.recorder.interval_start_ns = self.start_ns
            self.end_by_ns = self.start_ns + int(p.duration_s * 1e9)
            self.warmup_end_ns = self.start_ns + int(p.warmup_s * 1e9)
            tasks = []
            helpers = []
            try:
                for name, tr in self.runs.items():
                    tasks.append(asyncio.create_task(self._drive(tr, sessions[name])))
                helpers = [
                    asyncio.create_task(self._intervals()),
                    asyncio.create_task(self._lag_probe()),
                ]
                timer = asyncio.get_running_loop().call_later(p.duration_s, self.stop, "duration")
                work = asyncio.gather(*tasks)
                stopped = asyncio.create_task(self._stopping.wait())
                either: list[asyncio.Future[Any]] = [work, stopped]
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                timer.cancel()
                self.stop("done")
                if not work.done():
                    # Bounded drain: in-flight requests finish or are abandoned (and counted).
                    done, _ = await asyncio.wait(
                        {work}, timeout=min(p.timeouts.total_s, DRAIN_MAX_S)
                    )
                    if not done:
                        work.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await work
            finally:
                for t in [*tasks, *helpers]:
                    t.cancel()
                if self._rolling is not None:
                    await self._rolling
                for s in sessions.values():
                    await s.close()
        return self.partial_result()

    def partial_result(self) -> RunResult:
        """Close the open interval and hand back what was recorded (also after a cancel)."""
        end_ns = self.clock()
        self._roll(end_ns)
        return RunResult(
            self.recorder,
            self.runs,
            self.start_wall_s,
            time.time(),
            self.start_ns,
            end_ns,
            self.stopped_by,
            self.health,
            self.timeline,
            self.sim_marks,
        )

    async def _drive(self, tr: TargetRun, session: aiohttp.ClientSession) -> None:
        if tr.load.mode == "open":
            await self._open_loop(tr, session)
        else:
            await self._closed_loop(tr, session)

    # --- closed loop -------------------------------------------------------------------

    async def _closed_loop(self, tr: TargetRun, session: aiohttp.ClientSession) -> None:
        steps = tr.load.steps
        bounds: list[float] = []
        levels: list[int] = []
        acc = 0.0
        for s in steps:
            acc += s.duration_s
            bounds.append(acc)
            levels.append(s.concurrency or 0)
        top = max([tr.load.concurrency, *levels]) if steps else tr.load.concurrency

        def allowed(now_ns: int) -> int:
            if not steps:
                return tr.load.concurrency
            i = bisect.bisect_right(bounds, (now_ns - self.start_ns) / 1e9)
            return levels[min(i, len(levels) - 1)]

        async def worker(k: int) -> None:
            while not self.stopping and not tr.stopped_by:
                now = self.clock()
                if k >= allowed(now):
                    await asyncio.sleep(0.05)
                    continue
                await self._one(tr, session, now)

        await asyncio.gather(*(worker(k) for k in range(top)))

    # --- open loop ---------------------------------------------------------------------

    def _plan(self, load: Load) -> list[Segment]:
        steps = [(s.duration_s, s.rate or 0.0) for s in load.steps] or [
            (self.p.duration_s, load.rate)
        ]
        return segments(steps, load.ramp_up_s)

    async def _open_loop(self, tr: TargetRun, session: aiohttp.ClientSession) -> None:
        load = tr.load
        tr.slots = asyncio.Semaphore(load.max_in_flight)
        pending: set[asyncio.Task[None]] = set()
        seed = self.p.seed * 7919 + list(self.runs).index(tr.target.name)
        for offset in offsets(self._plan(load), load.arrivals, seed, load.burstiness):
            due = self.start_ns + int(offset * 1e9)
            if due >= self.end_by_ns:
                break
            # Plain sleeps (no task per arrival), short enough to notice a stop in a pause.
            delay = (due - self.clock()) / 1e9
            while delay > 0 and not self.stopping:
                await asyncio.sleep(min(delay, 0.25))
                delay = (due - self.clock()) / 1e9
            if self.stopping or tr.stopped_by:
                break
            if tr.waiting >= MAX_BACKLOG:
                tr.shed += 1
                continue
            task = asyncio.create_task(self._queued(tr, session, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)

    async def _queued(self, tr: TargetRun, session: aiohttp.ClientSession, due: int) -> None:
        assert tr.slots is not None
        tr.waiting += 1
        try:
            await tr.slots.acquire()
        finally:
            tr.waiting -= 1
        try:
            if self.stopping:
                return
            await self._one(tr, session, due)
        finally:
            tr.slots.release()

    # --- one request ------------------------------------------------------------------

    async def _one(self, tr: TargetRun, session: aiohttp.ClientSession, intended: int) -> None:
        measured = intended >= self.warmup_end_ns
        if measured:
            if self.p.requests and tr.measured_started >= self.p.requests:
                tr.stopped_by = "requests"
                return
            tr.measured_started += 1  # counted at the start, so concurrent workers can't overshoot
        i = tr.next_prompt
        tr.next_prompt += 1
        r = RequestRecord(tr.target.name, intended_ns=intended)
        tr.sent += 1
        tr.in_flight += 1
        try:
            detail = await send(
                session,
                tr.builder,
                self.prompts.prompt(i),
                PARSERS[tr.target.kind],
                self.p.timeouts,
                r,
                self.clock,
                tr.proxy,
            )
        finally:
            tr.in_flight -= 1
        metrics = derive(r)  # once per request, for the histograms and the results file
        if measured:
            tr.late += r.sent_ns - intended >= LATE_NS
            tr.recorded += 1
            tr.failed += r.error is not None
            self.recorder.record(r, metrics)
            if (
                tr.recorded >= MIN_FOR_BUDGET
                and self.p.error_budget < 1.0
                and tr.failed / tr.recorded > self.p.error_budget
            ):
                tr.stopped_by = "error_budget"
        if r.sim_time is not None:
            # The simulator's clock, sampled: the first and latest readings give its
            # offset and rate (time warp) for stamping the run in simulated time.
            mark = (r.sent_ns, r.sim_time)
            self.sim_marks = [self.sim_marks[0], mark] if self.sim_marks else [mark]
        self.sink.request(r, metrics, detail, measured)

    # --- intervals and self-check -----------------------------------------------------

    async def _intervals(self) -> None:
        n = 0
        while True:
            n += 1
            # Absolute boundaries: a slow roll does not shift the ones after it.
            due = self.start_ns + int(n * self.p.interval_s * 1e9)
            await asyncio.sleep(max(0.0, (due - self.clock()) / 1e9))
            # The roll is a task of its own, shielded: when the run ends mid-roll (the stop
            # and a boundary often fall together), cancelling this helper must not lose
            # the interval it has swapped out; run() waits for it instead.
            self._rolling = asyncio.create_task(self._roll_async(due, self._health(due)))
            await asyncio.shield(self._rolling)

    async def _roll_async(self, due: int, health: Health) -> None:
        self._closed(await self.recorder.roll_async(due), health)

    def _roll(self, now_ns: int) -> None:
        health = self._health(now_ns)
        self._closed(self.recorder.roll(now_ns), health)

    def _closed(self, iv: Interval, health: Health) -> None:
        self.timeline.append((iv.start_ns, iv.end_ns, iv.counts))
        self.sink.interval(iv, health)
        if self.p.abort_on_fail and not self.stopping:
            totals = self.recorder.total_counts
            gate = doomed(self.p.thresholds, {t: c.errors for t, c in totals.items()})
            if gate is not None:
                self.stop(f"threshold {gate}")

    def _health(self, end_ns: int) -> Health:
        # CPU over the wall time actually elapsed since the last reading (a late roll
        # would otherwise divide a longer CPU span by the nominal interval).
        cpu, now_ns = time.process_time(), self.clock()
        prev_cpu, prev_ns = self._cpu_mark
        self._cpu_mark = (cpu, now_ns)
        lags = sorted(self._lags)
        self._lags = []
        health = Health(
            end_ns=end_ns,
            loop_lag_max_ms=lags[-1] if lags else 0.0,
            loop_lag_p99_ms=lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else 0.0,
            cpu_percent=100.0 * (cpu - prev_cpu) / max(1e-9, (now_ns - prev_ns) / 1e9),
        )
        self.health.append(health)
        return health

    async def _lag_probe(self) -> None:
        # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
        while True:
            t = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_S)
            self._lags.append(max(0.0, (time.perf_counter() - t - LAG_PROBE_S) * 1000))
