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


class LoadStep(TypedDict):
    """One step of a stepped load."""

    duration_s: float
    level: float  # req/s (open loop) or streams (closed)


class LoadInfo(TypedDict):
    """How the target was loaded."""

    mode: str  # closed or open
    concurrency: int
    rate: float | None  # requests per second; None in closed loop
    max_in_flight: NotRequired[int]
    arrivals: NotRequired[str]  # open loop: constant, poisson or gamma
    burstiness: NotRequired[float]  # gamma arrivals
    ramp_up_s: NotRequired[float]
    steps: NotRequired[list[LoadStep]]


class Applied(TypedDict):
    """What the run applied besides each target's load."""

    duration_s: float
    warmup_s: float
    interval_s: float
    requests: int  # per target; 0 = no limit
    input_tokens: str  # '100', 'normal 1000 ± 200 in [100, 4000]' or 'prompts file'
    output_tokens: str
    ignore_eos: bool
    timeouts_s: dict[str, float]  # connect, ttft, idle, total
    client: str
    processes: int
    slo: NotRequired[str]  # the per-request objectives goodput counts, when set
    workload: NotRequired[str]  # a judged workload: its kind and task file


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
    good: NotRequired[int]  # completed within the profile's [slo]; only with one


class Rates(TypedDict):
    """Per second of the target's measured window, and the error fraction."""

    requests_per_s: float  # completed (achieved throughput)
    output_tokens_per_s: float
    error_rate: float  # failed / recorded
    # From the warm-up's end to when the target stopped sending (not its drain).
    window_s: NotRequired[float]
    sent_per_s: NotRequired[float]  # measured requests that went out: the achieved offer
    goodput_per_s: NotRequired[float]  # completed within the profile's [slo]


class Tokens(TypedDict):
    """Token totals, as the servers' usage reported them (or counted)."""

    input: int
    output: int
    requests_with_counted_tokens: int  # no usage from the server: counted by loadtest
    requests_with_zero_output: NotRequired[int]  # completed, not one output token
    requests_with_reasoning: NotRequired[int]  # completed, thinking first (see metric ttfo)


class IntervalRow(TypedDict):
    """One interval of one target's timeline."""

    start_s: float  # since the run's start
    length_s: float
    completed: int
    failed: int
    errors: dict[str, int]  # error class -> count
    rate_limit: dict[str, str]  # the latest rate-limit headers seen in the interval


class ErrorMessage(TypedDict):
    """One of the most frequent things the server said when requests failed."""

    error: str  # the error class
    message: str  # normalised: ids masked, secrets scrubbed, one line
    count: int


class StepRequests(TypedDict):
    """The measured requests of one load step (by their intended send time)."""

    recorded: int
    completed: int
    good: NotRequired[int]  # within the profile's [slo]; only with one


class StepSummary(TypedDict):
    """One load step of one target: what it offered and what came of it."""

    step: int  # from 1
    level: float  # offered: req/s (open loop) or streams (closed)
    start_s: float  # since the run's start
    duration_s: float  # as configured; the last step's: to the end of its sending
    requests: StepRequests
    rates: Rates  # over the part of the step both measured and sent in
    errors: dict[str, int]  # error class -> count
    metrics: dict[str, MetricStats]


class PromptTokens(TypedDict):
    """How a target's prompts were sized, and what its server counted."""

    method: str  # tokenizer, calibrated, chars/4 (nothing to calibrate from), prompts file
    requested_mean: float | None  # tokens the measured prompts asked for (None: a file's)
    server_mean: float | None  # prompt tokens its usage reported (None: no usage)
    chars_per_token: NotRequired[float]  # calibrated: the fitted line
    overhead: NotRequired[float]


class Cost(TypedDict):
    """What a target's measured calls cost, at its price (USD)."""

    usd: float  # the completed calls' reported usage at the price
    per_1k_calls: float | None  # per 1,000 recorded calls, failed ones included
    per_success: float | None  # per completed call; judged: per successful answer
    per_success_within_slo: NotRequired[float | None]  # per good call, with an [slo]
    input_price: float  # USD per million tokens
    output_price: float
    source: str
    cached_input_tokens: NotRequired[int]  # of the input, prompt-cache reads
    cached_input_price: NotRequired[float]  # what those cost, per million
    batch_per_1k_calls: NotRequired[float]  # the same calls through the batch API


class Quality(TypedDict):
    """How often a judged workload's answers did the task (tools, extract)."""

    judged: int  # completed requests whose answer was judged
    succeeded: int  # judged ok
    success_rate: float  # succeeded / judged
    interval95: list[float]  # Wilson score interval of success_rate, [low, high]
    successes_per_s: float  # over the target's measured window
    outcomes: dict[str, int]  # failure class -> count (loadtest.validators), zeros kept


class AgentTasks(TypedDict):
    """Where an agent task's time and tokens went (completed tasks, means)."""

    completed: int
    latency_ms: dict[str, float]  # p50, p95, p99 of the wall clock, tools included (E2E)
    model_share: float  # of the wall clock: waiting on the model
    tool_share: float  # of the wall clock: running the scripted tools
    model_calls: float  # per task
    tokens: float  # input and output, per task
    cost: NotRequired[float]  # USD per task, at the target's price


class Retries(TypedDict):
    """A target with a retry policy: what its requests took (loadtest.retry_policy)."""

    attempts: int  # every attempt of its recorded requests, fallbacks' included
    per_request: float | None
    per_success: float | None  # attempts per request that succeeded
    served_by: dict[str, int]  # completed requests by the target that served them
    fallback_share: float  # of the completed: served by a fallback
    first_attempt_success_rate: NotRequired[float | None]  # of the recorded: first try ok


class ServerMetric(TypedDict):
    """One of the server's own latency histograms over the measured window (ms): the
    mean exact (sum / count), the percentiles interpolated inside its buckets."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    # percentiles that fell in the first bucket (from 0): their value is its bound, an
    # upper bound only
    at_most: NotRequired[list[str]]


class ServerGauge(TypedDict):
    """A gauge of the server's, read at each interval's end."""

    mean: float
    max: float


class ServerInterval(TypedDict):
    """What the server's metrics say of one interval (ms; gauges at its end)."""

    start_s: float  # from the run's start, like the client's intervals
    length_s: float
    requests: NotRequired[float]  # finished, by the server's count
    ttft_mean: NotRequired[float | None]
    ttft_p50: NotRequired[float | None]
    ttft_p95: NotRequired[float | None]
    itl_p95: NotRequired[float | None]
    e2e_p95: NotRequired[float | None]
    queue_mean: NotRequired[float | None]
    queue_p95: NotRequired[float | None]
    running: NotRequired[float]
    waiting: NotRequired[float]
    kv_cache: NotRequired[float]  # fraction of the KV cache in use


class ServerSide(TypedDict):
    """A target's server's own Prometheus metrics beside the client's (loadtest.server_scrape)."""

    source: str  # the metrics URL, without credentials
    server: str  # vllm, sglang, tgi, llama.cpp; "" when none of their names was found
    scrapes: int
    failed_scrapes: int
    note: NotRequired[str]  # why there are none, or the last failed scrape's error
    percentiles: str  # how the percentiles were had (interpolated from buckets)
    metrics: dict[str, ServerMetric]  # ttft, itl, e2e, queue, prefill: those it has
    # The client's figure minus the server's (mean exact; percentiles of two estimates):
    # the network, the client, and anything else outside the server.
    client_minus_server: dict[str, dict[str, float | None]]
    gauges: dict[str, ServerGauge]  # running, waiting, kv_cache
    counters: dict[str, float]  # requests, preemptions, prefix-cache hits and queries
    per_interval: list[ServerInterval]
    raw: NotRequired[dict[str, list[float]]]  # other series: [at the start, at the end]


class TargetSummary(TypedDict):
    """Everything summary.json says of one target (the block the store keeps per row)."""

    kind: str
    model: str
    base_url: str
    load: NotRequired[LoadInfo]  # written by every run; absent from some hand-made files
    requests: Requests
    rates: Rates
    tokens: Tokens
    prompt_tokens: NotRequired[PromptTokens]
    cost: NotRequired[Cost]  # absent when the model has no price (table or profile)
    quality: NotRequired[Quality]  # judged workloads only
    tasks: NotRequired[AgentTasks]  # agent workloads only
    retries: NotRequired[Retries]  # targets with a retry policy only
    errors: dict[str, int]  # error class -> count
    messages: NotRequired[list[ErrorMessage]]  # the most frequent per class, first first
    clipped: dict[str, int]  # metric -> values outside the histogram's range
    stopped_by: str
    rate_limit: NotRequired[dict[str, str]]  # the latest rate-limit headers seen
    metrics: dict[str, MetricStats]  # metric name -> its statistics
    intervals: NotRequired[list[IntervalRow]]
    steps: NotRequired[list[StepSummary]]  # a stepped load's rows, one per step
    server: NotRequired[ServerSide]  # targets whose server's metrics were scraped


class SimClock(TypedDict):
    """The simulator's clock over a run against it."""

    start_utc: str  # its instant at the run's start
    rate: float  # simulated seconds per real second


class RunInfo(TypedDict):
    """When, where and how long the run ran."""

    id: NotRequired[str]  # unique, made when the run starts (also in run.json)
    incomplete: NotRequired[bool]  # rebuilt from the files of a killed run
    partial: NotRequired[bool]  # a worker process was lost: its share is missing from then on
    scheduled_utc: NotRequired[str]  # the instant it was meant to start (run --start-at)
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
    cause: NotRequired[str]  # why saturated: 'client CPU-bound' or 'client delayed: machine busy'
    worker: NotRequired[int]  # of several worker processes, the one described (the worst)


class WorkerRow(TypedDict):
    """One worker process of a run over several: how it ended, its client's health."""

    worker: int
    pid: int
    state: str  # done, crashed, hung (or starting, running: never got further)
    intervals: int
    saturated_intervals: int
    saturated_by: dict[str, int]
    cpu_percent_mean: float
    loop_lag_max_ms: float
    error: NotRequired[str]  # a lost worker's last words, or how it ended
    node: NotRequired[str]  # where it ran, on a cluster
    clock_offset_ms: NotRequired[float]  # its wall clock against the driver's, on a cluster


class ClientHealth(TypedDict):
    """Whether the load generator itself was the bottleneck."""

    loop_lag_max_ms: float
    cpu_percent_max: float
    saturated_intervals: int
    intervals: int
    saturated_by: NotRequired[dict[str, int]]  # cause -> intervals (see HealthInterval.cause)
    per_interval: NotRequired[list[HealthInterval]]
    workers: NotRequired[list[WorkerRow]]  # a run over several worker processes


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
    applied: NotRequired[Applied]
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
