"""Plain records of what happened in a run, at the bottom of the import graph.

The engine fills them; sinks, the dashboard, reports and a multi-process runner read
them. None of them holds a reference into the engine's mutable state: a sink gets a
frozen `TargetStatus` per target with every closed interval, never the engine's own
counters. Everything here is picklable.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from loadtest import messages as said
from loadtest.errors import ErrorClass
from loadtest.tally import tally_percentiles

Tally = dict[str, dict[int, int]]  # metric -> histogram bucket value -> count


@dataclass(slots=True)
class RequestRecord:
    """Everything the engine stamps on one request (perf_counter_ns; 0 = never happened)."""

    target: str
    intended_ns: int
    sent_ns: int = 0
    first_byte_ns: int = 0
    first_token_ns: int = 0  # first generated content: text, tool arguments or reasoning
    first_output_ns: int = 0  # first non-reasoning content
    last_token_ns: int = 0
    end_ns: int = 0
    # One stamp per content *event*, not per token: an event may carry several tokens
    # (Anthropic deltas, vLLM's stream interval). ITL is the gaps between these.
    event_ns: array[int] = field(default_factory=lambda: array("q"))
    output_tokens: int = 0  # the server's usage; our count of events when it sent none
    input_tokens: int = 0  # as the server's usage reports them; 0 when it sent none
    cached_tokens: int = 0  # of the input, read from the provider's prompt cache
    tokens_counted: bool = False  # True: no usage from the server, output_tokens is our count
    status: int = 0
    error: ErrorClass | None = None  # None when the request succeeded
    ratelimit: dict[str, str] | None = None  # the response's rate-limit headers, if any
    sim_time: str | None = None  # the simulator's clock at arrival (x-sim-time), if sent
    # Judged workloads (tools, extract): the answer's outcome (loadtest.validators), and
    # when its first tool-call argument and its last one arrived.
    outcome: str | None = None
    task_id: str = ""  # the task's id in its file
    first_tool_ns: int = 0
    tool_done_ns: int = 0
    sim_outcome: str | None = None  # what the simulator meant to answer (x-sim-outcome)
    # An agent task (loadtest.agent_loop): its model calls, the time spent waiting on
    # the model and on tools, and where each call after the first begins in event_ns.
    model_calls: int = 0
    model_wait_ns: int = 0
    tool_wait_ns: int = 0
    call_starts: array[int] = field(default_factory=lambda: array("q"))
    # Under a retry policy (loadtest.retrying): attempts made, the fallback target that
    # served it ("" when its own did), and each attempt's usage: (target, input, output).
    attempts: int = 0
    first_ok: bool = False  # its first attempt succeeded (no error, its answer ok)
    served_by: str = ""
    billed: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass
class TargetCounts:
    """Counters of one target in one interval (or the run)."""

    completed: int = 0
    failed: int = 0
    output_tokens: int = 0
    input_tokens: int = 0  # from the servers' usage (what a provider bills)
    cached_tokens: int = 0  # of those, prompt-cache reads (billed at the cached price)
    counted_tokens: int = 0  # requests whose tokens we counted (no server usage)
    good: int = 0  # completed within the profile's [slo] (0 without one)
    zero_output: int = 0  # completed with no output token at all
    reasoned: int = 0  # completed whose first content was reasoning (thinking)
    errors: Counter[str] = field(default_factory=Counter)
    clipped: Counter[str] = field(default_factory=Counter)
    ratelimit: dict[str, str] = field(default_factory=dict)  # latest rate-limit headers seen
    messages: Counter[said.Key] = field(default_factory=Counter)  # (class, detail) -> n
    outcomes: Counter[str] = field(default_factory=Counter)  # judged answers: outcome -> n
    # Under a retry policy: attempts made, requests by the target that served them ("":
    # its own), and usage by target, every attempt's (what cost is paid for).
    attempts: int = 0
    first_ok: int = 0  # requests whose first attempt succeeded
    served: Counter[str] = field(default_factory=Counter)
    billed: dict[str, list[int]] = field(default_factory=dict)  # target -> [input, output]

    @staticmethod
    def merged(*parts: Mapping[str, TargetCounts]) -> dict[str, TargetCounts]:
        """Per target, the counters of PARTS added up, earliest first (new objects:
        the parts, handed to sinks already, are left as they are)."""
        out: dict[str, TargetCounts] = {}
        for part in parts:
            for target, counts in part.items():
                out.setdefault(target, TargetCounts()).add(counts)
        return out

    def bill(self, target: str, input_tokens: int, output_tokens: int) -> None:
        """Count usage an attempt at TARGET was billed for."""
        b = self.billed.setdefault(target, [0, 0])
        b[0] += input_tokens
        b[1] += output_tokens

    def add(self, other: TargetCounts) -> None:
        """Merge OTHER into these counters."""
        self.completed += other.completed
        self.failed += other.failed
        self.output_tokens += other.output_tokens
        self.input_tokens += other.input_tokens
        self.cached_tokens += other.cached_tokens
        self.counted_tokens += other.counted_tokens
        self.good += other.good
        self.zero_output += other.zero_output
        self.reasoned += other.reasoned
        self.errors.update(other.errors)
        self.clipped.update(other.clipped)
        self.ratelimit.update(other.ratelimit)
        self.outcomes.update(other.outcomes)
        self.attempts += other.attempts
        self.first_ok += other.first_ok
        self.served.update(other.served)
        for name, (i, o) in other.billed.items():
            self.bill(name, i, o)
        said.merge(self.messages, other.messages)


Span = tuple[int, int, dict[str, TargetCounts]]  # an interval's (or several) start, end, counts


def span_then(a: Span, b: Span) -> Span:
    """Spans A and the later B as one (a run's coarse timeline of counters)."""
    return (a[0], b[1], TargetCounts.merged(a[2], b[2]))


@dataclass
class StepTotals:
    """One load step of one target, over the whole run: its requests' values as a tally
    (bucket -> count per metric, cumulative) and their counters."""

    tally: Tally = field(default_factory=dict)
    counts: TargetCounts = field(default_factory=TargetCounts)


@dataclass(frozen=True)
class Interval:
    """A closed interval: encoded histograms and counters per target (immutable, picklable)."""

    start_ns: int
    end_ns: int
    histograms: dict[str, dict[str, bytes]]  # target -> metric -> hdrh encode()
    maxima_us: dict[str, dict[str, int]]
    counts: dict[str, TargetCounts]
    # target -> metric -> {bucket value: count}: the same data as the histograms, for
    # cheap percentiles (decoding an hdrh histogram and querying it costs milliseconds).
    tallies: dict[str, Tally] = field(default_factory=dict)

    def percentiles(self, target: str, metric: str, ps: Iterable[float]) -> dict[float, int]:
        """Values at percentiles PS of METRIC in this interval, as hdrh reports them
        (the highest value of the bucket); empty when nothing was recorded."""
        return tally_percentiles(self.tallies.get(target, {}).get(metric, {}), ps)


LAG_MS = 10.0  # a loop that wakes this late (or later) delays what it times
LATE_SHARE = 0.05  # ...for this share of an interval: sustained, not one hiccup
CPU_BOUND = 90.0  # percent of a core: the loop has no time left to stamp events promptly
# An interval shorter than this (the drain's, after the last boundary: 6 ms against a
# real vLLM) is not judged by its CPU: a few ms of closing work read as 90% of a core.
MIN_CPU_SPAN_MS = 250.0
CPU_BOUND_CAUSE = "client CPU-bound"
DELAYED_CAUSE = "client delayed: machine busy"


@dataclass(frozen=True)
class Health:
    """The client's own state over one interval: a saturated client says so, and why."""

    end_ns: int = 0  # the end of the interval it describes
    loop_lag_max_ms: float = 0.0
    loop_lag_p99_ms: float = 0.0
    cpu_percent: float = 0.0
    intervals: int = 1  # how many it stands for (more in a coarse series)
    late_ms: float = 0.0  # the loop's lag summed over the samples of LAG_MS or more
    span_ms: float = 0.0  # the time those samples covered
    worker: int = -1  # of several worker processes, the one described (the worst one)

    @property
    def cause(self) -> str:
        """Why latencies of this interval include the client's own delay, '' when they do
        not: its core was busy (CPU-bound), or its loop woke late for a sustained share
        of the interval while its own CPU was not the reason (the machine was busy: other
        processes, a noisy host). One hiccup of an interval is no verdict: it is in the
        maximum lag, not in the share."""
        if self.cpu_percent >= CPU_BOUND and not 0 < self.span_ms < MIN_CPU_SPAN_MS:
            return CPU_BOUND_CAUSE
        if self.span_ms > 0 and self.late_ms / self.span_ms >= LATE_SHARE:
            return DELAYED_CAUSE
        return ""

    @property
    def saturated(self) -> bool:
        """Whether measured latency includes our own delay (see cause)."""
        return bool(self.cause)

    def then(self, later: Health) -> Health:
        """These intervals and the LATER ones as one point of a coarse series: the
        worse lags (for the p99, an upper bound), the mean CPU."""
        n = self.intervals + later.intervals
        return Health(
            later.end_ns,
            max(self.loop_lag_max_ms, later.loop_lag_max_ms),
            max(self.loop_lag_p99_ms, later.loop_lag_p99_ms),
            (self.cpu_percent * self.intervals + later.cpu_percent * later.intervals) / n,
            n,
            self.late_ms + later.late_ms,
            self.span_ms + later.span_ms,
            later.worker if later.saturated or not self.saturated else self.worker,
        )


@dataclass(frozen=True)
class TargetStatus:
    """One target's request accounting at a moment, frozen for sinks and summaries.

    Every request the engine sent or meant to send ends in exactly one outcome:
    sent = warmup + completed + failed + abandoned (completed and failed are in the
    recorder's counts), and requests due but never sent are shed or unsent."""

    name: str
    mode: str  # "open" or "closed"
    offered: float  # the load step in force: req/s (open) or streams (closed)
    sent: int = 0  # every request that went out, warm-up ones included
    warmup: int = 0  # sent during the warm-up: not recorded
    recorded: int = 0  # measured and finished: completed + failed
    failed: int = 0
    in_flight: int = 0
    waiting: int = 0  # open loop: due, waiting for an in-flight slot
    late: int = 0  # sent 10 ms or more after their intended time
    shed: int = 0  # due, never sent: the backlog of waiting requests was full
    unsent: int = 0  # due, never sent: still waiting for a slot when the run stopped
    abandoned: int = 0  # sent, still in flight when the drain ended (or a 2nd Ctrl-C)
    stopped_by: str = ""

    @property
    def offered_text(self) -> str:
        """'20 req/s' or '8 streams'."""
        return offered_text(self.mode, self.offered)


def offered_text(mode: str, level: float) -> str:
    """'20 req/s' (open loop) or '8 streams' (closed): how every view names a load level."""
    return f"{level:g} req/s" if mode == "open" else f"{level:g} stream{'s' * (level != 1)}"
