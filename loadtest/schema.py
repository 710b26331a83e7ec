"""summary.json's shape, as `loadtest.summary` writes it and every reader takes it.

One TypedDict per object of the file, so a reader that asks for a key the file does
not have is a type error, and renaming a key shows every place that reads it. Keys
that older loadtest versions did not write (and that old files and stored runs still
lack) are NotRequired: a reader takes them with `.get`. Everything else is written by
every version and read with `[]`.

This module sits at the bottom of the import graph: it imports nothing of loadtest.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict, cast

import orjson

# A metric's statistics besides its count, as MetricStats and threshold expressions name them.
StatKey = Literal["mean", "p50", "p90", "p95", "p99", "p99_9", "max"]


class MetricStats(TypedDict):
    """One metric of one target over the measured window; only count and unit when empty."""

    unit: str  # ms, tokens/s or tokens
    count: int
    mean: NotRequired[float]
    p50: NotRequired[float]
    p90: NotRequired[float]
    p95: NotRequired[float]
    p99: NotRequired[float]
    p99_9: NotRequired[float]
    max: NotRequired[float]


class LoadInfo(TypedDict):
    """How the target was loaded."""

    mode: str  # closed or open
    concurrency: int
    rate: float | None  # requests per second; None in closed loop


class Requests(TypedDict):
    """What happened to the requests of one target."""

    sent: int
    recorded: int  # sent after the warm-up: the ones measured
    completed: int
    failed: int
    late: int
    shed: int
    abandoned: int
    warmup: NotRequired[int]  # sent during the warm-up, not measured
    unsent: NotRequired[int]  # open loop: due but never sent when the run stopped


class Rates(TypedDict):
    """Per second of the target's measured window, and the error fraction."""

    requests_per_s: float
    output_tokens_per_s: float
    error_rate: float  # failed / recorded


class Tokens(TypedDict):
    """Token totals, as the servers' usage reported them (or counted)."""

    input: int
    output: int
    requests_with_counted_tokens: int  # no usage from the server: counted by loadtest


class IntervalRow(TypedDict):
    """One interval of one target's timeline."""

    start_s: float  # since the run's start
    length_s: float
    completed: int
    failed: int
    errors: dict[str, int]  # error class -> count
    rate_limit: dict[str, str]  # the latest rate-limit headers seen in the interval


class TargetSummary(TypedDict):
    """Everything summary.json says of one target (the block the store keeps per row)."""

    kind: str
    model: str
    base_url: str
    load: LoadInfo
    requests: Requests
    rates: Rates
    tokens: Tokens
    errors: dict[str, int]  # error class -> count
    clipped: dict[str, int]  # metric -> values outside the histogram's range
    stopped_by: str
    rate_limit: NotRequired[dict[str, str]]  # the latest rate-limit headers seen
    metrics: dict[str, MetricStats]  # metric name -> its statistics
    intervals: NotRequired[list[IntervalRow]]


class SimClock(TypedDict):
    """The simulator's clock over a run against it."""

    start_utc: str  # its instant at the run's start
    rate: float  # simulated seconds per real second


class RunInfo(TypedDict):
    """When, where and how long the run ran."""

    id: NotRequired[str]  # unique, made when the run starts (also in run.json)
    incomplete: NotRequired[bool]  # rebuilt from the files of a killed run
    start_utc: str
    end_utc: str
    duration_s: float
    warmup_s: float
    sim_clock: NotRequired[SimClock | None]  # None: no response carried x-sim-time
    stopped_by: str
    host: str
    platform: str
    versions: dict[str, str]  # package -> version


class HealthInterval(TypedDict):
    """The load generator's own health over one interval."""

    end_s: float
    loop_lag_p99_ms: float
    loop_lag_max_ms: float
    cpu_percent: float
    saturated: bool


class ClientHealth(TypedDict):
    """Whether the load generator itself was the bottleneck."""

    loop_lag_max_ms: float
    cpu_percent_max: float
    saturated_intervals: int
    intervals: int
    per_interval: NotRequired[list[HealthInterval]]


class ThresholdResult(TypedDict):
    """One threshold judged for one target."""

    expr: str
    target: str
    value: float | None  # None: no data
    limit: float
    ok: bool
    note: NotRequired[str]  # why there is no value


class Summary(TypedDict):
    """The whole of summary.json."""

    profile: str
    profile_path: str
    run: RunInfo
    client_health: ClientHealth
    targets: dict[str, TargetSummary]
    thresholds: NotRequired[list[ThresholdResult]]
    thresholds_ok: NotRequired[bool]


def stat(target: TargetSummary, metric: str, key: StatKey) -> float | None:
    """KEY of METRIC in TARGET's summary; None when the metric is absent or empty."""
    m = target["metrics"].get(metric)
    return None if m is None else m.get(key)


def parse_summary(raw: bytes) -> Summary:
    """summary.json's bytes as a Summary: the one place JSON read back becomes typed.
    ValueError says why when RAW is not JSON or not a loadtest summary."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
        raise ValueError("not a loadtest summary (no targets)")
    # Written by loadtest.summary in this shape; keys newer than the file are NotRequired.
    return cast(Summary, data)
