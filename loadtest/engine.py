"""The load engine: decides when each request of a shard goes out, and accounts for all.

A shard (a picklable ShardSpec in, intervals and records out through a Sink) is the
unit of work: one per worker process (loadtest.workers). Within a shard:

- closed loop: one worker per stream and target, started as the level first asks for
  it (loadtest.pool), each sending its next request as soon as the previous one ends;
  stepped concurrency parks the extra workers;
- open loop: an absolute schedule of intended send times (loadtest.arrivals). When
  `max_in_flight` requests are already out, a due request waits for a slot and is
  counted late (its latency from the intended time shows the wait); beyond a backlog
  of MAX_BACKLOG waiting requests, it is shed (counted, never sent). Sending never
  silently slows down: coordinated omission cannot hide a stall.

Accounting: every request sent or due ends in exactly one outcome, written to the
sink and counted (records.TargetStatus): completed or failed (recorded), abandoned,
shed or unsent. Warm-up requests are sent, not recorded. Stop: duration, a request
count per target, the error budget, or stop().

What the engine does not do is send: a Sender does (transport.HttpSender in real runs).
Its clocks are injected too, so tests drive its decisions on virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loadtest.arrivals import offsets, segments
from loadtest.backoff import FatalStreak, retry_delay_s
from loadtest.coarse import Coarse
from loadtest.errors import ErrorClass
from loadtest.loadspec import Load
from loadtest.loop import short_gc_pauses
from loadtest.metrics import derive
from loadtest.pool import POLL_S, follow_level
from loadtest.recorder import Recorder
from loadtest.records import Health, Interval, RequestRecord, Span, TargetStatus, span_then
from loadtest.selfcheck import SelfCheck
from loadtest.shard_io import Clocks, RunResult, Sender, ShardSpec
from loadtest.sinks import Sink
from loadtest.spend import Spend
from loadtest.thresholds import lost_gate
from loadtest.workload import prompt_source

LATE_NS = 10_000_000  # a request sent 10 ms or more after its intended time is "late"
MIN_FOR_BUDGET = 20  # the error budget is judged once this many requests are recorded
DRAIN_MAX_S = 30.0  # after stop(), in-flight requests get at most this long to finish
MAX_BACKLOG = 10_000  # due requests waiting for an in-flight slot; beyond this they are shed
WORKER_DIED = "worker died"  # the start of stopped_by when a target's task raised


# A target's counters (TargetStatus's fields), plus the measured requests started (so
# concurrent workers cannot overshoot a request count).
_COUNTERS = (
    *("sent", "warmup", "recorded", "failed", "in_flight", "waiting", "late"),
    *("shed", "unsent", "abandoned", "measured_started"),
)


Ready = Callable[[], Awaitable[tuple[int, float]]]  # -> the start instant: perf ns, wall s


@dataclass
class _TargetRun:
    """One target's live counters; only the engine holds them (sinks get a status)."""

    name: str
    load: Load
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    stopped_by: str = ""
    send_end_ns: int = 0  # when it stopped sending on its own (count, budget, fatal streak)
    slots: asyncio.Semaphore | None = None
    fatal: FatalStreak = field(default_factory=FatalStreak)
    next_prompt: int = 0  # its own sequence: every target gets the same tasks, in order


class Engine:
    """One shard's run."""

    def __init__(
        self,
        spec: ShardSpec,
        sink: Sink,
        sender: Sender | None = None,
        clocks: Clocks | None = None,
    ) -> None:
        self.p = spec.profile
        self.share = spec.share
        self.sink = sink
        self.clocks = clocks or Clocks()
        self.clock = self.clocks.perf_ns
        if sender is None:
            from loadtest.retrying import http_sender  # aiohttp only where requests go out

            sender = http_sender(spec, self.clock)
        self.sender = sender
        self.prompts = prompt_source(self.p)
        self.runs = {t.name: _TargetRun(t.name, self.p.load_of(t)) for t in self.p.targets}
        highest_us = int(max(self.p.timeouts.total_s, self.p.duration_s + 60) * 1_000_000)
        self.recorder = Recorder(self.runs, highest_us, 0, self.p.slo, spec.share.n == 1)
        self._stopping = asyncio.Event()
        self.stopped_by = ""
        self._rolling: asyncio.Task[None] | None = None  # the interval roll under way
        self.sim_marks: list[tuple[int, str]] = []  # (perf ns, x-sim-time): first, latest
        self.selfcheck = SelfCheck(self.clock, self.clocks.cpu_s)
        self.spend = Spend(self.p)
        self.start_wall_s = 0.0
        self.start_ns = self.end_by_ns = self.warmup_end_ns = self.stop_ns = 0
        # Each closed interval's counters (errors, 429s, rate-limit headers), for the summary.
        self.timeline: Coarse[Span] = Coarse(span_then)  # bounded however long the run

    def stop(self, reason: str = "stopped") -> None:
        """Send no new requests; in-flight ones finish (bounded by their timeouts)."""
        if not self._stopping.is_set():
            self.stopped_by = reason
            self.stop_ns = self.clock()
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether stop() was called or a stop condition was met."""
        return self._stopping.is_set()

    def status(self, now_ns: int | None = None) -> dict[str, TargetStatus]:
        """Each target's accounting now, frozen."""
        elapsed = ((self.clock() if now_ns is None else now_ns) - self.start_ns) / 1e9
        return {
            name: TargetStatus(
                name,
                tr.load.mode,
                tr.load.level_at(elapsed, self.p.duration_s),
                **{k: v for k, v in tr.counters.items() if k != "measured_started"},
                stopped_by=tr.stopped_by or self.stopped_by,
            )
            for name, tr in self.runs.items()
        }

    async def run(self, ready: Ready | None = None) -> RunResult:
        """Run every target until a stop condition; returns totals and counters. READY:
        awaited once the engine is ready, it gives the start instant shared with other
        workers (perf ns here, wall s), which the engine waits for."""
        p = self.p
        # Sessions (and their TLS contexts, tens of ms each) exist before the clock starts.
        await self.sender.open()
        at = await ready() if ready is not None else None
        # The collector is tamed before the clock starts (its first full collection
        # is not anyone's latency).
        with short_gc_pauses(asyncio.get_running_loop()):
            if at is not None:
                await asyncio.sleep(max(0.0, (at[0] - self.clock()) / 1e9))
            self.start_ns, self.start_wall_s = at or (self.clock(), self.clocks.wall_s())
            self.sink.start(self.start_wall_s, self.start_ns)
            self.selfcheck.start(self.start_ns)
            self.recorder.interval_start_ns = self.start_ns
            self.end_by_ns = self.start_ns + int(p.duration_s * 1e9)
            self.warmup_end_ns = self.start_ns + int(p.warmup_s * 1e9)
            for tr in self.runs.values():
                if tr.load.steps:
                    ends = itertools.accumulate(s.duration_s for s in tr.load.steps[:-1])
                    self.recorder.keep_steps(tr.name, [self.start_ns + int(e * 1e9) for e in ends])
            tasks = [asyncio.create_task(self._drive(tr)) for tr in self.runs.values()]
            helpers = [
                asyncio.create_task(self._intervals()),
                asyncio.create_task(self.selfcheck.probe()),
            ]
            timer = asyncio.get_running_loop().call_later(p.duration_s, self.stop, "duration")
            work = asyncio.gather(*tasks)
            stopped = asyncio.create_task(self._stopping.wait())
            try:
                either: list[asyncio.Future[Any]] = [work, stopped]
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                died = work.exception() if work.done() and not work.cancelled() else None
                if died is not None:  # a bug, or a sink that cannot write: never silent
                    self.stop(f"{WORKER_DIED} ({type(died).__name__}: {str(died)[:200]})")
                self.stop("done")
                if not work.done():
                    # Bounded drain: what is still in flight then is abandoned (and counted).
                    await asyncio.wait({work}, timeout=min(p.timeouts.total_s, DRAIN_MAX_S))
            finally:
                timer.cancel()
                for t in [*tasks, *helpers, stopped]:
                    t.cancel()
                # Let every cancelled request run its accounting before the result is taken
                # (a second Ctrl-C cancels run() itself and lands here too).
                await asyncio.gather(*tasks, *helpers, stopped, return_exceptions=True)
                if work.done() and not work.cancelled():
                    work.exception()  # seen: a cancelled target is no error to log
                if self._rolling is not None:
                    await self._rolling
                await self.sender.close()
        return self.partial_result()

    def windows(self, end_ns: int) -> dict[str, tuple[int, int]]:
        """Each target's measured window (perf ns): from the end of the warm-up to when it
        stopped sending (the duration's end, its request count or error budget, a stop),
        whichever came first; empty when it stopped during the warm-up. Rates are per
        second of this window, so neither the drain nor another target's lowers them."""
        stop = min(x for x in (self.stop_ns, self.end_by_ns, end_ns) if x)
        out = {}
        for name, tr in self.runs.items():
            end = min(stop, tr.send_end_ns) if tr.send_end_ns else stop
            out[name] = (self.warmup_end_ns, max(self.warmup_end_ns, end))
        return out

    def _halt(self, tr: _TargetRun, reason: str) -> None:
        """TR sends no more, for REASON (the first one given stands)."""
        if not tr.stopped_by:
            tr.stopped_by = reason
            tr.send_end_ns = self.clock()

    def partial_result(self) -> RunResult:
        """Close the open interval and hand back what was recorded (also after a cancel)."""
        end_ns = self.clock()
        self._roll(end_ns)
        return RunResult(
            self.recorder,
            self.status(end_ns),
            self.start_wall_s,
            self.clocks.wall_s(),
            self.start_ns,
            end_ns,
            self.stopped_by,
            self.selfcheck.history.points(),
            self.timeline.points(),
            self.sim_marks,
            self.timeline.intervals,
            self.selfcheck.saturated,
            dict(self.selfcheck.causes),
            self.windows(end_ns),
            self.prompts.lengths,
        )

    async def _drive(self, tr: _TargetRun) -> None:
        if tr.load.mode == "open":
            await self._open_loop(tr)
        else:
            await self._closed_loop(tr)

    # --- closed loop -------------------------------------------------------------------

    async def _closed_loop(self, tr: _TargetRun) -> None:
        load, duration = tr.load, self.p.duration_s
        stepped = bool(load.steps)

        async def worker(k: int) -> None:
            rng = random.Random(self.p.seed * 7919 + k)  # backoff jitter, reproducible
            failures = 0
            while not self.stopping and not tr.stopped_by:
                now = self.clock()
                # Without steps every worker always runs: no level lookup per request.
                if stepped and k >= load.level_at((now - self.start_ns) / 1e9, duration):
                    await asyncio.sleep(POLL_S)  # parked: the step is looked at again
                    continue
                r = await self._one(tr, now)
                if r is None or r.error is None:
                    failures = 0
                    continue
                failures += 1  # a failed request: wait before the next (see loadtest.backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), retry_delay_s(r, failures, rng))

        def level() -> int:
            return int(load.level_at((self.clock() - self.start_ns) / 1e9, duration))

        def over() -> bool:
            return self.stopping or bool(tr.stopped_by)

        await follow_level(level, worker, over, self._stopping, stepped)

    # --- open loop ---------------------------------------------------------------------

    async def _open_loop(self, tr: _TargetRun) -> None:
        load, c = tr.load, tr.counters
        tr.slots = asyncio.Semaphore(load.max_in_flight)
        pending: set[asyncio.Task[None]] = set()
        seed = self.p.seed * 7919 + list(self.runs).index(tr.name)
        plan = segments(load.levels(self.p.duration_s), load.ramp_up_s)
        arrivals = offsets(plan, load.arrivals, seed, load.burstiness)
        try:
            for offset in itertools.islice(arrivals, *self.share.deal):  # its own (share)
                due = self.start_ns + int(offset * 1e9)
                if due >= self.end_by_ns:
                    break
                # Plain sleeps (no task per arrival), short enough to notice a stop in a pause.
                delay = (due - self.clock()) / 1e9
                if delay <= 0:  # behind schedule: yield, or a huge rate never lets a stop in
                    await asyncio.sleep(0)
                while delay > 0 and not self.stopping:
                    await asyncio.sleep(min(delay, 0.25))
                    delay = (due - self.clock()) / 1e9
                if self.stopping or tr.stopped_by:
                    break
                if c["waiting"] >= MAX_BACKLOG:
                    self._never_sent(tr, due, ErrorClass.SHED)
                    continue
                task = asyncio.create_task(self._queued(tr, due))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.gather(*pending)
        finally:
            # Cancelled (drain deadline, second Ctrl-C): the requests waiting or in flight
            # are separate tasks; each must end, and be accounted for, before we do.
            left = list(pending)
            for t in left:
                t.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    async def _queued(self, tr: _TargetRun, due: int) -> None:
        assert tr.slots is not None
        c = tr.counters
        c["waiting"] += 1
        try:
            await tr.slots.acquire()
        except asyncio.CancelledError:
            self._never_sent(tr, due, ErrorClass.UNSENT)
            raise
        finally:
            c["waiting"] -= 1
        try:
            if self._capped(tr, due):
                self._halt(tr, "requests")  # beyond the count: never meant to be sent
                return
            if self.stopping or tr.stopped_by:
                self._never_sent(tr, due, ErrorClass.UNSENT)
                return
            await self._one(tr, due)
        finally:
            tr.slots.release()

    def _never_sent(self, tr: _TargetRun, due: int, why: ErrorClass) -> None:
        measured = due >= self.warmup_end_ns
        if measured:
            tr.counters[why.value] += 1
        self.sink.request(RequestRecord(tr.name, due, error=why), {}, "", measured)

    # --- one request ------------------------------------------------------------------

    def _capped(self, tr: _TargetRun, intended: int) -> bool:
        requests = self.p.requests
        return bool(
            requests
            and intended >= self.warmup_end_ns
            and tr.counters["measured_started"] >= requests
        )

    async def _one(self, tr: _TargetRun, intended: int) -> RequestRecord | None:
        """Send one request of TR and account for it; None when the count forbade it."""
        c = tr.counters
        measured = intended >= self.warmup_end_ns
        if measured:
            if self._capped(tr, intended):
                self._halt(tr, "requests")
                return None
            c["measured_started"] += 1  # at the start, so concurrent workers can't overshoot
        else:
            c["warmup"] += 1
        i = self.share.prompt(tr.next_prompt)
        tr.next_prompt += 1
        r = RequestRecord(tr.name, intended_ns=intended)
        c["sent"] += 1
        c["in_flight"] += 1
        prompt = self.prompts.prompt(i, tr.name, measured)
        try:
            detail = await self.sender.send(tr.name, prompt, r)
        except asyncio.CancelledError:
            self._cut_off(tr, r, measured)
            raise
        except Exception as exc:  # a Sender's own bug is this request's error, not the worker's
            r.end_ns = r.end_ns or self.clock()
            r.error = ErrorClass.CLIENT_ERROR
            detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        finally:
            c["in_flight"] -= 1
        metrics = derive(r)  # once per request, for the histograms and the results file
        if not measured and r.error is None:  # the server's count of the warm-up's prompts
            self.prompts.lengths.observe(tr.name, prompt.chars, r.input_tokens)
        if measured:
            c["late"] += r.sent_ns - intended >= LATE_NS
            c["recorded"] += 1
            c["failed"] += r.error is not None
            self.recorder.record(r, metrics, detail)
            if (
                c["recorded"] >= MIN_FOR_BUDGET
                and self.p.error_budget < 1.0
                and c["failed"] / c["recorded"] > self.p.error_budget
            ):
                self._halt(tr, "error_budget")
        if self.spend.add(r) and not self.stopping:
            self.stop(self.spend.reason())
        fatal = tr.fatal.seen(r, detail)
        if fatal is not None:
            self._halt(tr, fatal)
        if r.sim_time is not None:
            # The simulator's clock, sampled: the first and latest readings give its
            # offset and rate (time warp) for stamping the run in simulated time.
            mark = (r.sent_ns, r.sim_time)
            self.sim_marks = [self.sim_marks[0], mark] if self.sim_marks else [mark]
        self.sink.request(r, metrics, detail, measured)
        return r

    def _cut_off(self, tr: _TargetRun, r: RequestRecord, measured: bool) -> None:
        """A request cancelled in flight: abandoned if it went out, else unsent."""
        c = tr.counters
        r.end_ns = self.clock()
        r.error = ErrorClass.ABANDONED if r.sent_ns else ErrorClass.UNSENT
        if not r.sent_ns:  # cancelled before the sender stamped it: it never went out
            c["sent"] -= 1
            c["warmup"] -= not measured
        if measured:
            c[r.error.value] += 1
        self.sink.request(r, {}, "cut off when the run stopped", measured)

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
            self._rolling = asyncio.create_task(self._roll_async(due, self.selfcheck.close(due)))
            await asyncio.shield(self._rolling)

    async def _roll_async(self, due: int, health: Health) -> None:
        self._closed(await self.recorder.roll_async(due), health)

    def _roll(self, now_ns: int) -> None:
        health = self.selfcheck.close(now_ns)
        self._closed(self.recorder.roll(now_ns), health)

    def _closed(self, iv: Interval, health: Health) -> None:
        self.timeline.add((iv.start_ns, iv.end_ns, iv.counts))
        status = self.status(iv.end_ns)
        self.sink.interval(iv, health, status)
        if self.p.abort_on_fail and not self.stopping:
            gate = lost_gate(self.p.thresholds, self.recorder.total_counts, status)
            if gate is not None:
                self.stop(f"threshold {gate}")
