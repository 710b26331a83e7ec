"""One request's timeline and the latency metrics derived from it (pure arithmetic).

Definitions follow vLLM's `bench serve` where it has one, so numbers compare, and part
from it where it counts chunks without content (README: how it measures):
TTFT = first_token - sent; ITL = every gap between consecutive content events;
TPOT = (last_token - first_token) / (output tokens - 1); E2E = end - sent;
output speed = (output tokens - 1) / (last_token - first_token); TTFA and tool call =
the first and the last tool-argument event - sent. Output tokens are the
server's usage (our count of events, flagged, when it sends none), never the number of
events: one event can carry several tokens (Anthropic's text deltas, vLLM's stream
interval), and dividing by events overstated TPOT by that factor. Beside the service times
measured from `sent`, the open-loop views measure from `intended` (what a user would
have seen), and schedule lag = sent - intended: coordinated omission never hides a stall.
All durations come out in integer microseconds, the histograms' unit.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

from loadtest.records import RequestRecord

# Metric names, as histograms, reports and thresholds call them.
TTFT = "ttft"
TTFT_FROM_INTENDED = "ttft_from_intended"
# Time to the first output token: the first non-reasoning content. TTFT counts a reasoning
# model's first thinking token; this is when its answer (text or a tool call) begins.
TTFO = "ttfo"
ITL = "itl"
TPOT = "tpot"
E2E = "e2e"
E2E_FROM_INTENDED = "e2e_from_intended"
SCHEDULE_LAG = "schedule_lag"
OUTPUT_SPEED = "output_speed"  # tokens/s x 1000 (milli-tokens per second), to stay integral
OUTPUT_TOKENS = "output_tokens"
# Tool calls (judged workloads): time to the first tool-call argument token, and to a
# complete tool call (its last argument fragment), both from `sent`, as TTFT is.
TTFA = "ttfa"
TOOL_CALL = "tool_call"
# Agent tasks (loadtest.agent_loop): time waiting on the model, on tools, and model calls.
TASK_MODEL = "task_model"
TASK_TOOLS = "task_tools"
MODEL_CALLS = "model_calls"
METRICS = (
    TTFT,
    TTFT_FROM_INTENDED,
    TTFO,
    ITL,
    TPOT,
    E2E,
    E2E_FROM_INTENDED,
    SCHEDULE_LAG,
    OUTPUT_SPEED,
    OUTPUT_TOKENS,
    TTFA,
    TOOL_CALL,
    TASK_MODEL,
    TASK_TOOLS,
    MODEL_CALLS,
)


def unit_of(metric: str) -> tuple[str, float]:
    """(unit, divisor from the recorded integer) of METRIC: the one place that knows
    histograms hold microseconds and milli-tokens per second."""
    if metric == OUTPUT_SPEED:
        return "tokens/s", 1000.0
    if metric == OUTPUT_TOKENS:
        return "tokens", 1.0
    if metric == MODEL_CALLS:
        return "calls", 1.0
    return "ms", 1000.0


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
    if r.first_output_ns:
        out[TTFO] = _us(r.first_output_ns - r.sent_ns)
    if r.end_ns:
        out[E2E] = _us(r.end_ns - r.sent_ns)
        out[E2E_FROM_INTENDED] = _us(r.end_ns - r.intended_ns)
    if r.first_tool_ns:
        out[TTFA] = _us(r.first_tool_ns - r.sent_ns)
        out[TOOL_CALL] = _us(r.tool_done_ns - r.sent_ns)
    out[OUTPUT_TOKENS] = n = r.output_tokens
    if r.model_calls:
        out[MODEL_CALLS] = r.model_calls
        out[TASK_MODEL] = _us(r.model_wait_ns)
        out[TASK_TOOLS] = _us(r.tool_wait_ns)
        if r.model_calls > 1:
            return out  # TPOT and speed over several calls would count the tools' time
    span = r.last_token_ns - r.first_token_ns
    if n > 1 and span > 0:  # span > 0: the tokens came in two events or more
        out[TPOT] = _us(span // (n - 1))
        out[OUTPUT_SPEED] = round((n - 1) * 1e12 / span)
    return out


def itl_gaps(r: RequestRecord) -> list[tuple[int, int]]:
    """Every gap between content events of R in microseconds, as (value, count) pairs,
    each recorded with one call: equal consecutive gaps are one pair, and the zero gaps
    of events that arrived in one network read (they share its timestamp) are counted
    apart, as one last pair (a 128-event body in a few reads: 9 us a request, not 21).
    An agent task's gap before each later model call is left out: a tool ran there, not
    the model."""
    t = r.event_ns
    gaps: Iterable[int] = map(operator.sub, t[1:], t)
    if r.call_starts:
        starts = set(r.call_starts)
        gaps = (g for i, g in enumerate(gaps, 1) if i not in starts)
    runs: list[tuple[int, int]] = []
    zeros = 0
    for ns in gaps:
        if not ns:
            zeros += 1
            continue
        gap = (ns + 500) // 1000  # _us(), inline: this runs once per event
        if runs and runs[-1][0] == gap:
            runs[-1] = (gap, runs[-1][1] + 1)
        else:
            runs.append((gap, 1))
    if zeros:
        runs.append((0, zeros))
    return runs
