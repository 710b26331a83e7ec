"""One request's timeline and the latency metrics derived from it (pure arithmetic).

Definitions follow vLLM's `bench serve` where it has one, so numbers compare:
TTFT = first_token - sent; ITL = every gap between consecutive content events;
TPOT = (last_token - first_token) / (tokens - 1); E2E = end - sent;
output speed = (tokens - 1) / (last_token - first_token). Beside the service times
measured from `sent`, the open-loop views measure from `intended` (what a user would
have seen), and schedule lag = sent - intended: coordinated omission never hides a stall.
All durations come out in integer microseconds, the histograms' unit.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

# Metric names, as histograms, reports and thresholds call them.
TTFT = "ttft"
TTFT_FROM_INTENDED = "ttft_from_intended"
ITL = "itl"
TPOT = "tpot"
E2E = "e2e"
E2E_FROM_INTENDED = "e2e_from_intended"
SCHEDULE_LAG = "schedule_lag"
OUTPUT_SPEED = "output_speed"  # tokens/s x 1000 (milli-tokens per second), to stay integral
OUTPUT_TOKENS = "output_tokens"
METRICS = (
    TTFT,
    TTFT_FROM_INTENDED,
    ITL,
    TPOT,
    E2E,
    E2E_FROM_INTENDED,
    SCHEDULE_LAG,
    OUTPUT_SPEED,
    OUTPUT_TOKENS,
)


def unit_of(metric: str) -> tuple[str, float]:
    """(unit, divisor from the recorded integer) of METRIC: the one place that knows
    histograms hold microseconds and milli-tokens per second."""
    if metric == OUTPUT_SPEED:
        return "tokens/s", 1000.0
    if metric == OUTPUT_TOKENS:
        return "tokens", 1.0
    return "ms", 1000.0


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
    token_ns: array[int] = field(default_factory=lambda: array("q"))  # every content event
    output_tokens: int = 0
    input_tokens: int = 0  # as the server's usage reports them; 0 when it sent none
    tokens_counted: bool = False  # True: no usage from the server, output_tokens is our count
    status: int = 0
    error: str | None = None  # error class, None when the request succeeded
    ratelimit: dict[str, str] | None = None  # the response's rate-limit headers, if any
    sim_time: str | None = None  # the simulator's clock at arrival (x-sim-time), if sent


def _us(ns: int) -> int:
    return (ns + 500) // 1000


def derive(r: RequestRecord) -> dict[str, int]:
    """Single-valued metrics of R in microseconds (speed in milli-tokens/s); ITL apart.

    A metric is absent when the timeline does not define it (no token, one token, an
    error before the first byte): it is not recorded as zero.
    """
    out: dict[str, int] = {}
    if r.sent_ns:
        out[SCHEDULE_LAG] = _us(max(0, r.sent_ns - r.intended_ns))
    if r.error is not None:
        return out
    if r.first_token_ns:
        out[TTFT] = _us(r.first_token_ns - r.sent_ns)
        out[TTFT_FROM_INTENDED] = _us(r.first_token_ns - r.intended_ns)
    if r.end_ns:
        out[E2E] = _us(r.end_ns - r.sent_ns)
        out[E2E_FROM_INTENDED] = _us(r.end_ns - r.intended_ns)
    out[OUTPUT_TOKENS] = r.output_tokens
    n = len(r.token_ns)
    span = r.last_token_ns - r.first_token_ns
    if n > 1 and span > 0:
        out[TPOT] = _us(span // (n - 1))
        out[OUTPUT_SPEED] = round((n - 1) * 1e12 / span)
    return out


def itl_gaps(r: RequestRecord) -> list[tuple[int, int]]:
    """Every inter-token gap of R in microseconds, as (value, count) runs: events that
    arrived in the same network read share a timestamp, and equal gaps are recorded
    with one call."""
    t = r.token_ns
    runs: list[tuple[int, int]] = []
    prev = t[0] if t else 0
    for now in t[1:]:
        gap = _us(now - prev)
        prev = now
        if runs and runs[-1][0] == gap:
            runs[-1] = (gap, runs[-1][1] + 1)
        else:
            runs.append((gap, 1))
    return runs
