"""The simulator's own /metrics, named and shaped as vLLM's, over the requests it served.

What it observes is what it did: time to first token from a request's arrival to the
write of its first content event (its injected TTFT plus any wait for a capacity slot
and the timer's lateness), each gap between content events as written, the whole
request, and the wait for a slot (queue time); requests running and waiting. So a
client's TTFT minus this one is the network and the client, as against a real server.

Worker processes share one block of memory (multiprocessing's RawArray): each writes
only its own row, and /metrics adds the rows up, whichever worker answers the scrape.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

# Upper bounds in seconds, of the shape vLLM uses (fine where LLM latencies sit).
TTFT_BOUNDS: tuple[float, ...] = (
    *(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4),
    *(0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0),
)
ITL_BOUNDS: tuple[float, ...] = (
    *(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05),
    *(0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 20.0, 80.0),
)
E2E_BOUNDS: tuple[float, ...] = (
    *(0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0),
    *(50.0, 60.0, 120.0, 240.0, 480.0, 960.0),
)
QUEUE_BOUNDS: tuple[float, ...] = (
    *(0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    *(10.0, 30.0, 60.0, 120.0),
)

HISTOGRAMS = (
    ("vllm:time_to_first_token_seconds", "Time to first token in seconds.", TTFT_BOUNDS),
    ("vllm:inter_token_latency_seconds", "Gaps between content events in seconds.", ITL_BOUNDS),
    ("vllm:e2e_request_latency_seconds", "Whole requests in seconds.", E2E_BOUNDS),
    ("vllm:request_queue_time_seconds", "Waits for a capacity slot in seconds.", QUEUE_BOUNDS),
)
TTFT, ITL, E2E, QUEUE = range(4)
_NS = 1e9


def _hist_size(bounds: Sequence[float]) -> int:
    return len(bounds) + 2  # a count per bucket, the +Inf bucket, the sum


_HIST_AT = []
_at = 0
for _name, _help, _bounds in HISTOGRAMS:
    _HIST_AT.append(_at)
    _at += _hist_size(_bounds)
SUCCESS, RUNNING, WAITING = _at, _at + 1, _at + 2
PER_MODEL = _at + 3


def block_size(models: int, workers: int) -> int:
    """Doubles in the shared block for MODELS models and WORKERS worker processes."""
    return models * workers * PER_MODEL


class ModelStats:
    """One model's counters in one worker's row: what the server code calls."""

    __slots__ = ("_base", "_buf")

    def __init__(self, buf: Any, base: int) -> None:
        self._buf = buf
        self._base = base

    def observe(self, which: int, seconds: float) -> None:
        """One value into histogram WHICH (TTFT, ITL, E2E, QUEUE)."""
        bounds = HISTOGRAMS[which][2]
        at = self._base + _HIST_AT[which]
        buf = self._buf
        buf[at + bisect_left(bounds, seconds)] += 1.0
        buf[at + len(bounds) + 1] += seconds

    def gap_ns(self, ns: int) -> None:
        """One inter-token gap (the streams' hot path: kept to one call)."""
        seconds = ns / _NS
        at = self._base + _HIST_AT[ITL]
        buf = self._buf
        buf[at + bisect_left(ITL_BOUNDS, seconds)] += 1.0
        buf[at + len(ITL_BOUNDS) + 1] += seconds

    def add(self, which: int, n: float) -> None:
        """N more of SUCCESS, RUNNING or WAITING (negative for fewer)."""
        self._buf[self._base + which] += n


class SimMetrics:
    """The counters of every model the simulator serves, in worker WORKER's row of BUF
    (a sequence of doubles shared by WORKERS workers)."""

    def __init__(self, models: Sequence[str], buf: Any, worker: int, workers: int) -> None:
        self.models = tuple(models)
        self._buf = buf
        self._workers = workers
        row = worker * len(self.models) * PER_MODEL
        self._stats = {m: ModelStats(buf, row + i * PER_MODEL) for i, m in enumerate(self.models)}

    def of(self, model: str) -> ModelStats | None:
        """MODEL's counters (None for a model it does not know)."""
        return self._stats.get(model)

    def render(self) -> bytes:
        """Prometheus text format: every worker's rows added up."""
        n = len(self.models) * PER_MODEL
        sums = [0.0] * n
        buf = self._buf
        for w in range(self._workers):
            base = w * n
            for i in range(n):
                sums[i] += buf[base + i]
        out: list[str] = []
        for (name, text, bounds), at in zip(HISTOGRAMS, _HIST_AT, strict=True):
            out += [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
            for mi, model in enumerate(self.models):
                base = mi * PER_MODEL + at
                label = f'model_name="{_escape(model)}"'
                cum = 0.0
                for bi, b in enumerate((*bounds, math.inf)):
                    cum += sums[base + bi]
                    le = "+Inf" if math.isinf(b) else repr(b)
                    out.append(f'{name}_bucket{{{label},le="{le}"}} {cum:.0f}')
                out.append(f"{name}_count{{{label}}} {cum:.0f}")
                out.append(f"{name}_sum{{{label}}} {sums[base + len(bounds) + 1]!r}")
        for name, text, kind, at in (
            ("vllm:request_success", "Requests finished.", "counter", SUCCESS),
            ("vllm:num_requests_running", "Requests being answered.", "gauge", RUNNING),
            ("vllm:num_requests_waiting", "Requests waiting for a slot.", "gauge", WAITING),
        ):
            suffix = "_total" if kind == "counter" else ""  # as prometheus_client writes it
            out += [f"# HELP {name}{suffix} {text}", f"# TYPE {name}{suffix} {kind}"]
            for mi, model in enumerate(self.models):
                value = sums[mi * PER_MODEL + at]
                out.append(f'{name}{suffix}{{model_name="{_escape(model)}"}} {value:.0f}')
        return ("\n".join(out) + "\n").encode()


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def local_block(models: int) -> Any:
    """A block for one worker process (no sharing needed)."""
    return [0.0] * block_size(models, 1)
