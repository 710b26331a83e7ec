"""The parent's side of a run over several worker processes: their intervals merged into
the one run a single process would have recorded.

Each worker closes its intervals on the shared timeline (the parent gave them one
start instant) and sends each one's tallies and counters (not histograms: see
Recorder.fold). Interval K of the run is merged once every worker still running has
sent its K-th (or has ended): the tallies are added, exactly, into the parent's own
Recorder, which builds the histograms, the run's totals and the interval handed to
the sinks (the hlog, the dashboard), as one process's engine does. Pure: no I/O; the
process side is loadtest.workers.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field

from loadtest.coarse import Coarse
from loadtest.prompt_length import Lengths
from loadtest.recorder import Recorder
from loadtest.records import Health, Interval, Span, StepTotals, TargetStatus, span_then
from loadtest.shard_io import RunResult

Merged = tuple[Interval, Health, dict[str, TargetStatus]]  # what the sinks are handed


@dataclass(frozen=True)
class WorkerInterval:
    """One worker's closed interval (picklable): tallies and counters, its health and
    accounting, and its results.jsonl lines written since the last one."""

    worker: int
    interval: Interval
    health: Health
    status: dict[str, TargetStatus]
    lines: bytes = b""


@dataclass(frozen=True)
class WorkerEnd:
    """What a worker hands back when its engine has stopped (picklable)."""

    worker: int
    status: dict[str, TargetStatus]
    end_wall_s: float
    end_ns: int
    stopped_by: str
    windows: dict[str, tuple[int, int]]
    steps: dict[str, list[StepTotals]]
    sim_marks: list[tuple[int, str]]
    prompt_lengths: Lengths | None
    lines: bytes = b""


@dataclass
class WorkerHealth:
    """One worker's client health over the run, for the summary and the dashboard."""

    intervals: int = 0
    saturated: int = 0
    causes: Counter[str] = field(default_factory=Counter)
    cpu_sum: float = 0.0
    lag_max_ms: float = 0.0

    def add(self, h: Health) -> None:
        """One more interval's health."""
        self.intervals += 1
        self.cpu_sum += h.cpu_percent
        self.lag_max_ms = max(self.lag_max_ms, h.loop_lag_max_ms)
        if h.cause:
            self.saturated += 1
            self.causes[h.cause] += 1

    @property
    def cpu_mean(self) -> float:
        """Its mean CPU use, percent of a core."""
        return self.cpu_sum / self.intervals if self.intervals else 0.0


def merged_health(parts: list[Health], end_ns: int) -> Health:
    """Several workers' health over one interval as one: the worst worker's (a saturated
    one before the others, the busiest first), with the highest lags of all and that
    worker's index, so a view can say which one it was."""
    worst = max(range(len(parts)), key=lambda i: (parts[i].saturated, parts[i].cpu_percent))
    return dataclasses.replace(
        parts[worst],
        end_ns=end_ns,
        loop_lag_max_ms=max(h.loop_lag_max_ms for h in parts),
        loop_lag_p99_ms=max(h.loop_lag_p99_ms for h in parts),
        worker=parts[worst].worker,
    )


def merged_status(parts: list[dict[str, TargetStatus]]) -> dict[str, TargetStatus]:
    """Each target's accounting over every worker: the counters added; the offered level
    is the closed loop's streams added up, the open loop's rate as each worker has it
    (every one knows the whole schedule); the first reason a worker stopped sending."""
    out: dict[str, TargetStatus] = {}
    for status in parts:
        for name, s in status.items():
            have = out.get(name)
            if have is None:
                out[name] = s
                continue
            counters = {
                f.name: getattr(have, f.name) + getattr(s, f.name)
                for f in dataclasses.fields(TargetStatus)
                if f.type in ("int", int)
            }
            offered = (
                have.offered + s.offered if s.mode == "closed" else max(have.offered, s.offered)
            )
            out[name] = dataclasses.replace(
                have, offered=offered, stopped_by=have.stopped_by or s.stopped_by, **counters
            )
    return out


def merged_steps(parts: list[dict[str, list[StepTotals]]]) -> dict[str, list[StepTotals]]:
    """Each target's per-step totals over every worker (tallies and counters added)."""
    out: dict[str, list[StepTotals]] = {}
    for steps in parts:
        for target, rows in steps.items():
            have = out.setdefault(target, [StepTotals() for _ in rows])
            for into, row in zip(have, rows, strict=True):
                for m, values in row.tally.items():
                    d = into.tally.setdefault(m, {})
                    for v, n in values.items():
                        d[v] = d.get(v, 0) + n
                into.counts.add(row.counts)
    return out


def _sim_marks(parts: list[list[tuple[int, str]]]) -> list[tuple[int, str]]:
    marks = sorted(m for ms in parts for m in ms)
    return [marks[0], marks[-1]] if len(marks) > 1 else marks


def _lengths(parts: list[Lengths | None]) -> Lengths | None:
    """How the workers sized their prompts, per target: the first worker's calibration
    that found a fit (each calibrates on its own warm-up, and a short one may leave a
    worker without), and every worker's measured prompts counted."""
    have = [x for x in parts if x is not None]
    if not have:
        return None
    merged = Lengths(have[0].method)
    merged.methods = dict(have[0].methods)
    for lengths in have:
        for target, t in lengths.targets.items():
            m = merged.targets.get(target)
            if m is None:
                merged.targets[target] = dataclasses.replace(t, samples=list(t.samples))
                continue
            if m.fit is None and t.fit is not None:
                m.fit, m.samples = t.fit, list(t.samples)
            m.requested += t.requested
            m.prompts += t.prompts
            m.warmup_prompts += t.warmup_prompts
    return merged


class Merge:
    """N workers' intervals, merged interval by interval as they all close one."""

    def __init__(
        self,
        targets: list[str],
        workers: int,
        start_ns: int,
        interval_s: float,
        recorder: Recorder,
        warmup_s: float = 0.0,
    ) -> None:
        self.targets = targets
        self.start_ns = start_ns
        self.interval_ns = int(interval_s * 1e9)
        self.warmup_end_ns = start_ns + int(warmup_s * 1e9)
        self.recorder = recorder
        recorder.interval_start_ns = start_ns
        self.live = set(range(workers))
        self.reached = dict.fromkeys(range(workers), 0)  # the latest interval each sent
        self.pending: dict[int, list[WorkerInterval]] = {}
        self.status: dict[int, dict[str, TargetStatus]] = {}
        self.ends: dict[int, WorkerEnd] = {}
        self.workers = [WorkerHealth() for _ in range(workers)]
        self.timeline: Coarse[Span] = Coarse(span_then)
        self.health: Coarse[Health] = Coarse(Health.then)
        self.causes: Counter[str] = Counter()
        self.last_end_ns = start_ns

    def _key(self, end_ns: int) -> int:
        """The run's interval an interval ending at END_NS belongs to: boundaries fall on
        whole intervals from the start; a worker's last, shorter one takes the next."""
        return max(1, math.ceil((end_ns - self.start_ns) / self.interval_ns - 1e-6))

    def add(self, part: WorkerInterval) -> list[Merged]:
        """A worker's closed interval; returns the run's intervals now complete."""
        key = self._key(part.interval.end_ns)
        self.pending.setdefault(key, []).append(part)
        self.reached[part.worker] = max(self.reached[part.worker], key)
        self.status[part.worker] = part.status
        self.workers[part.worker].add(part.health)
        return self._ready()

    def end(self, done: WorkerEnd) -> list[Merged]:
        """A worker has finished; what it sent still counts."""
        self.ends[done.worker] = done
        self.status[done.worker] = done.status
        return self.lose(done.worker)

    def lose(self, worker: int) -> list[Merged]:
        """WORKER sends no more (finished, crashed, or given up on). A lost one's requests
        in flight at its last word are abandoned, and those waiting for a slot unsent,
        so that every request sent still ends in one outcome (warm-up ones are counted
        as warm-up already)."""
        self.live.discard(worker)
        last = self.status.get(worker)
        if worker not in self.ends and last is not None:
            measured = self.reached[worker] * self.interval_ns + self.start_ns > self.warmup_end_ns
            self.status[worker] = {
                name: dataclasses.replace(
                    s,
                    in_flight=0,
                    waiting=0,
                    abandoned=s.abandoned + s.in_flight * measured,
                    unsent=s.unsent + s.waiting * measured,
                )
                for name, s in last.items()
            }
        return self._ready()

    def _ready(self) -> list[Merged]:
        upto = min((self.reached[w] for w in self.live), default=math.inf)
        out = []
        for key in sorted(k for k in self.pending if k <= upto):
            out.append(self._merge(self.pending.pop(key)))
        return out

    def _merge(self, parts: list[WorkerInterval]) -> Merged:
        for part in parts:
            self.recorder.absorb(part.interval.tallies, part.interval.counts)
        end_ns = max(part.interval.end_ns for part in parts)
        iv = self.recorder.roll(end_ns)
        self.last_end_ns = end_ns
        health = merged_health([p.health for p in parts], end_ns)
        self.timeline.add((iv.start_ns, iv.end_ns, iv.counts))
        self.health.add(health)
        if health.cause:
            self.causes[health.cause] += 1
        return iv, health, self.current_status()

    def current_status(self) -> dict[str, TargetStatus]:
        """Every target's accounting, from each worker's latest word."""
        return merged_status([self.status[w] for w in sorted(self.status)])

    def result(self, start_wall_s: float, end_wall_s: float, stopped_by: str) -> RunResult:
        """The run as one: what summarize() reads, as from one process."""
        ends = [self.ends[w] for w in sorted(self.ends)]
        self.recorder.steps = merged_steps([e.steps for e in ends])
        end_ns = max([self.last_end_ns, *(e.end_ns for e in ends)])
        windows: dict[str, tuple[int, int]] = {}
        for e in ends:
            for name, (a, b) in e.windows.items():
                have = windows.get(name)
                windows[name] = (a, b) if have is None else (min(have[0], a), max(have[1], b))
        return RunResult(
            self.recorder,
            self.current_status(),
            start_wall_s,
            max([end_wall_s, *(e.end_wall_s for e in ends)]),
            self.start_ns,
            end_ns,
            stopped_by,
            self.health.points(),
            self.timeline.points(),
            _sim_marks([e.sim_marks for e in ends]),
            self.timeline.intervals,
            sum(self.causes.values()),
            dict(self.causes),
            windows,
            _lengths([e.prompt_lengths for e in ends]),
        )
