"""loadtest's own metrics on a Prometheus endpoint (`--metrics-port`), with
prometheus_client: per target, histograms of TTFT, ITL and E2E, requests by outcome and
error class, tokens, rate-limit headroom; the client's health; finished runs and their
thresholds.

Fed per interval, not per request: each closed interval's tallies (the recorder's
buckets, loadtest.tally) are folded into cumulative Prometheus buckets on the loop's
thread, a few hundred additions an interval; a scrape, on prometheus_client's own
server thread, only formats what the last interval left. Observing every event into a
prometheus_client Histogram instead would take a lock and a bisection per event.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from loadtest import hlog
from loadtest.metrics import E2E, ITL, TTFT, unit_of
from loadtest.records import Health, Interval, RequestRecord, TargetCounts, TargetStatus
from loadtest.schema import Summary
from loadtest.tally import highest, nonzero_buckets

# Upper bounds in seconds, where LLM latencies sit: TTFT and E2E from tens of ms to
# minutes, ITL from a millisecond to a second.
LATENCY_BOUNDS_S: tuple[float, ...] = (
    *(0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0),
    *(3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0),
)
ITL_BOUNDS_S: tuple[float, ...] = (
    *(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05),
    *(0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0),
)
HISTOGRAMS = {
    TTFT: ("loadtest_ttft_seconds", "Time to first token, from the send.", LATENCY_BOUNDS_S),
    ITL: ("loadtest_itl_seconds", "Each gap between content events.", ITL_BOUNDS_S),
    E2E: ("loadtest_e2e_seconds", "Whole requests, send to last byte.", LATENCY_BOUNDS_S),
}
LABELS = ("target", "model", "kind", "profile")


@dataclass
class Hist:
    """One histogram, cumulative since the process started."""

    bounds: tuple[float, ...]
    counts: list[int]  # per bucket (not cumulative), the last for +Inf
    sum_s: float = 0.0
    min_s: float = math.inf
    max_s: float = 0.0

    def add(self, tally: Mapping[int, int], scale: float) -> None:
        """Fold in a tally of recorded values (integers of the recorder's unit)."""
        for value, n in tally.items():
            seconds = value / scale / 1000  # unit_of's scale gives ms
            self.counts[bisect_left(self.bounds, seconds)] += n
            self.sum_s += seconds * n
        if tally:
            self.min_s = min(self.min_s, min(tally) / scale / 1000)
            self.max_s = max(self.max_s, highest(max(tally)) / scale / 1000)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, as HistogramMetricFamily takes them."""
        cum, out = 0, []
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            cum += n
            out.append(("+Inf" if math.isinf(bound) else repr(bound), float(cum)))
        return out


@dataclass
class TargetState:
    """One target's metrics, cumulative; labels are LABELS' values."""

    labels: list[str]
    hists: dict[str, Hist] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # completed, failed
    errors: Counter[str] = field(default_factory=Counter)
    tokens: Counter[str] = field(default_factory=Counter)  # input, output
    remaining: dict[str, float] = field(default_factory=dict)  # rate-limit header -> value


class Exporter(Collector):
    """The metrics of the runs of one process: a Sink of each run, a Collector of
    prometheus_client's registry. Counters only grow, across runs too (a scheduler's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[tuple[str, str], TargetState] = {}  # (profile, target) ->
        self._runs: Counter[tuple[str, str]] = Counter()  # (profile, outcome) -> n
        self._gates: dict[tuple[str, str], float] = {}  # (profile, threshold) -> 1 or 0
        self._health: dict[str, float] = {}
        self._current: tuple[str, Mapping[str, tuple[str, str]]] = ("", {})
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._server: Any = None
        self.on_close: list[Callable[[], None]] = []  # other exporters fed from this one

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on HOST:PORT (prometheus_client's server, a thread of its
        own); the port it got (PORT 0 picks one). OSError when it cannot listen."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return int(server.server_address[1])

    def close(self) -> None:
        """Stop serving (and the exporters fed from this one: their last push)."""
        for done in self.on_close:
            done()
        self.on_close = []
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def begin(self, profile: str, targets: Mapping[str, tuple[str, str]]) -> None:
        """A run of PROFILE starts; TARGETS: name -> (model, kind)."""
        self._current = (profile, dict(targets))

    def finished(self, profile: str, outcome: str, gates: Sequence[tuple[str, bool]]) -> None:
        """A run of PROFILE ended: OUTCOME "ok" (every threshold passed), "failed" (one
        did not) or "error" (the run itself failed); GATES: (threshold, passed)."""
        with self._lock:
            self._runs[(profile, outcome)] += 1
            for expr, passed in gates:
                self._gates[(profile, expr)] = 1.0 if passed else 0.0

    def run_failed(self, profile: str) -> None:
        """A run of PROFILE that left no summary (the scheduler's probe)."""
        self.finished(profile, "error", ())

    def fold_run(self, run_dir: Path, summary: Summary, outcome: str) -> None:
        """A finished run read from its files (the scheduler's probes run as processes
        of their own): intervals.hlog's histograms, the summary's counts."""
        profile = summary["profile"]
        self.begin(profile, {n: (t["model"], t["kind"]) for n, t in summary["targets"].items()})
        tags = {hlog.tag(n, m): (n, m) for n in summary["targets"] for m in HISTOGRAMS}
        tallies: dict[str, dict[str, dict[int, int]]] = {}
        with contextlib.suppress(OSError):  # no log: counts only
            for line in (run_dir / "intervals.hlog").read_text().splitlines():
                if not line.startswith("Tag="):
                    continue
                tag, _, _, _, encoded = hlog.parse_line(line)
                if tag in tags:
                    name, metric = tags[tag]
                    h = HdrHistogram.decode(encoded)
                    into = tallies.setdefault(name, {}).setdefault(metric, {})
                    for value, n in nonzero_buckets(h).items():
                        into[value] = into.get(value, 0) + n
        counts = {}
        for name, t in summary["targets"].items():
            c = TargetCounts(
                completed=t["requests"]["completed"],
                failed=t["requests"]["failed"],
                input_tokens=t["tokens"]["input"],
                output_tokens=t["tokens"]["output"],
                errors=Counter(t["errors"]),
                ratelimit=dict(t.get("rate_limit", {})),
            )
            counts[name] = c
        self._fold(tallies, counts)
        gates = [(f"{g['expr']} [{g['target']}]", g["ok"]) for g in summary.get("thresholds", [])]
        self.finished(profile, outcome, gates)

    # The Sink verbs.
    def start(self, wall_s: float, start_ns: int) -> None:
        """Nothing: counters run from the process's start."""

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing per request: the interval brings its tallies."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Fold the closed interval IV in."""
        self._fold(iv.tallies, iv.counts)
        with self._lock:
            self._health = {
                "loadtest_client_cpu_percent": health.cpu_percent,
                "loadtest_client_loop_lag_p99_seconds": health.loop_lag_p99_ms / 1000,
                "loadtest_client_saturated": 1.0 if health.saturated else 0.0,
            }

    def _fold(
        self,
        tallies: Mapping[str, Mapping[str, Mapping[int, int]]],
        counts_by: Mapping[str, TargetCounts],
    ) -> None:
        profile, targets = self._current
        with self._lock:
            for name, counts in counts_by.items():
                model, kind = targets.get(name, ("", ""))
                t = self._targets.get((profile, name))
                if t is None:
                    t = self._targets[(profile, name)] = TargetState([name, model, kind, profile])
                for metric in HISTOGRAMS:
                    tally = tallies.get(name, {}).get(metric)
                    if not tally:
                        continue
                    h = t.hists.get(metric)
                    if h is None:
                        bounds = HISTOGRAMS[metric][2]
                        h = t.hists[metric] = Hist(bounds, [0] * (len(bounds) + 1))
                    h.add(tally, unit_of(metric)[1])
                t.outcomes["completed"] += counts.completed
                t.outcomes["failed"] += counts.failed
                t.errors.update(counts.errors)
                t.tokens["input"] += counts.input_tokens
                t.tokens["output"] += counts.output_tokens
                for header, value in counts.ratelimit.items():
                    if "remaining" in header:
                        try:
                            t.remaining[header] = float(value)
                        except ValueError:
                            continue  # a reset time or other text: not a level

    def snapshot(self) -> tuple[list[TargetState], dict[tuple[str, str], int], dict[str, float]]:
        """Copies of every target's state, the runs by (profile, outcome) and the client's
        health, as of the last interval (for another exporter: loadtest.otel_export)."""
        with self._lock:
            return copy.deepcopy(list(self._targets.values())), dict(self._runs), dict(self._health)

    def collect(self) -> Iterator[Any]:
        """The families, as of the last interval (prometheus_client's server thread)."""
        with self._lock:
            yield from self._families()

    def _families(self) -> Iterator[Any]:
        for metric, (name, text, _) in HISTOGRAMS.items():
            fam = HistogramMetricFamily(name, text, labels=LABELS)
            for t in self._targets.values():
                h = t.hists.get(metric)
                if h is not None:
                    fam.add_metric(t.labels, h.buckets(), h.sum_s)
            yield fam
        requests = CounterMetricFamily(
            "loadtest_requests", "Requests recorded, by outcome.", labels=[*LABELS, "outcome"]
        )
        errors = CounterMetricFamily(
            "loadtest_errors", "Failed requests by error class.", labels=[*LABELS, "error"]
        )
        tokens = CounterMetricFamily(
            "loadtest_tokens", "Tokens by the servers' usage.", labels=[*LABELS, "type"]
        )
        remaining = GaugeMetricFamily(
            "loadtest_rate_limit_remaining",
            "The latest rate-limit headroom the target's headers gave.",
            labels=[*LABELS, "header"],
        )
        for t in self._targets.values():
            for outcome in ("completed", "failed"):
                requests.add_metric([*t.labels, outcome], t.outcomes[outcome])
            for error, n in sorted(t.errors.items()):
                errors.add_metric([*t.labels, error], n)
            for kind in ("input", "output"):
                tokens.add_metric([*t.labels, kind], t.tokens[kind])
            for header, value in sorted(t.remaining.items()):
                remaining.add_metric([*t.labels, header], value)
        yield from (requests, errors, tokens, remaining)
        runs = CounterMetricFamily(
            "loadtest_runs", "Runs finished, by outcome (ok: every threshold passed).",
            labels=["profile", "outcome"],
        )  # fmt: skip
        for (profile, outcome), n in sorted(self._runs.items()):
            runs.add_metric([profile, outcome], n)
        gates = GaugeMetricFamily(
            "loadtest_threshold_ok", "The last run's thresholds: 1 passed, 0 failed.",
            labels=["profile", "threshold"],
        )  # fmt: skip
        for (profile, expr), v in sorted(self._gates.items()):
            gates.add_metric([profile, expr], v)
        yield from (runs, gates)
        for name, value in self._health.items():
            g = GaugeMetricFamily(name, "The client's own health over the last interval.")
            g.add_metric([], value)
            yield g


def listen_spec(text: str) -> tuple[str, int]:
    """`PORT` (on 127.0.0.1) or `HOST:PORT` as (host, port); ValueError saying why."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected PORT or HOST:PORT, got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)
