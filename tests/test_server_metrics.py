"""A server's Prometheus text read as loadtest's figures: names, models, deltas, quantiles."""

from __future__ import annotations

import math

import pytest

from loadtest.server_metrics import RAW_LIMIT, Hist, delta, known_lines, parse, total
from loadtest.server_summary import dashboard_line, metric

INF = math.inf

# As vLLM 0.11 writes it (trimmed): two models, an engine label, counters with _total.
VLLM = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 3.0
vllm:num_requests_running{engine="0",model_name="other"} 7.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="tiny"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.25
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="tiny"} 2.0
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="tiny"} 40.0
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="tiny"} 100.0
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="tiny"} 6.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="tiny"} 4.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.02",model_name="tiny"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="tiny"} 6.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.08",model_name="tiny"} 10.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 10.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="tiny"} 10.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="tiny"} 0.35
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.02",model_name="other"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="other"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.08",model_name="other"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="other"} 5.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="other"} 5.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="other"} 9.0
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",engine="0"} 1.0
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.5e+09
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 1234.0
"""

SGLANG = """# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m"} 5.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m"} 2.0
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="m"} 0.5
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 1.0
sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 1.0
sglang:time_to_first_token_seconds_sum{model_name="m"} 0.05
sglang:time_to_first_token_seconds_count{model_name="m"} 1.0
"""

TGI = """# TYPE tgi_queue_size gauge
tgi_queue_size 4
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 12
# TYPE tgi_request_duration histogram
tgi_request_duration_bucket{le="0.5"} 3
tgi_request_duration_bucket{le="1"} 4
tgi_request_duration_bucket{le="+Inf"} 4
tgi_request_duration_sum 1.9
tgi_request_duration_count 4
"""

LLAMA_CPP = """# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 1
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 3
# TYPE llamacpp:kv_cache_usage_ratio gauge
llamacpp:kv_cache_usage_ratio 0.125
"""


@pytest.mark.parametrize(
    ("text", "model", "server", "gauges"),
    [
        (VLLM, "tiny", "vllm", {"running": 3.0, "waiting": 1.0, "kv_cache": 0.25}),
        (VLLM, "other", "vllm", {"running": 7.0}),
        (SGLANG, "m", "sglang", {"running": 5.0, "waiting": 2.0, "kv_cache": 0.5}),
        (TGI, "any", "tgi", {"running": 12.0, "waiting": 4.0}),
        (LLAMA_CPP, "any", "llama.cpp", {"running": 1.0, "waiting": 3.0, "kv_cache": 0.125}),
        ("# TYPE foo gauge\nfoo 1\n", "m", "", {}),
        ("", "m", "", {}),
    ],
)
def test_each_server_is_known_by_its_names(
    text: str, model: str, server: str, gauges: dict[str, float]
) -> None:
    snap = parse(text, model)
    assert snap.server == server
    assert snap.gauges == gauges


def test_a_model_label_picks_the_target_model_and_counters_add_over_other_labels() -> None:
    snap = parse(VLLM, "tiny")
    assert snap.counters == {
        "requests": 10.0,  # stop + length
        "preemptions": 2.0,
        "prefix_cache_hits": 40.0,
        "prefix_cache_queries": 100.0,
    }
    h = snap.hists["ttft"]
    assert h.bounds == (0.02, 0.04, 0.08, INF)
    assert h.counts == (2.0, 6.0, 10.0, 10.0)
    assert h.sum == pytest.approx(0.35)
    assert parse(VLLM, "other").hists["ttft"].count == 5
    # A model the server does not label: every series of the family, added up.
    assert parse(VLLM, "unknown").hists["ttft"].count == 15


def test_known_lines_keep_the_known_families_with_their_types_only() -> None:
    kept = known_lines(VLLM)
    assert "process_resident_memory_bytes" not in kept
    assert "vllm:cache_config_info" not in kept
    assert "# TYPE vllm:time_to_first_token_seconds histogram" in kept
    assert "# HELP" not in kept
    assert parse(VLLM, "tiny") == parse(VLLM, "tiny", raw=False)
    whole = parse(VLLM, "tiny", raw=True)
    assert whole.hists == parse(VLLM, "tiny").hists
    assert whole.raw == {
        'vllm:cache_config_info{block_size="16",engine="0"}': 1.0,
        "process_resident_memory_bytes": 1.5e9,
        'python_gc_objects_collected_total{generation="0"}': 1234.0,
    }


def test_raw_series_are_bounded() -> None:
    text = "".join(f"# TYPE g{i} gauge\ng{i} {i}\n" for i in range(RAW_LIMIT + 50))
    assert len(parse(text, "m", raw=True).raw) == RAW_LIMIT


@pytest.mark.parametrize(
    "text",
    ["<html><body>Not Found</body></html>", '{"detail": "Not Found"}', "vllm:x{le=0.1 3"],
)
def test_text_that_is_not_prometheus_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text, "m", raw=True)


# histogram_quantile by hand: bounds 0.02, 0.04, 0.08, +Inf with counts 2, 4, 4, 0.
H = Hist((0.02, 0.04, 0.08, INF), (2.0, 6.0, 10.0, 10.0), 0.35)


@pytest.mark.parametrize(
    ("hist", "q", "want"),
    [
        (H, 0.1, 0.01),  # rank 1 of the first bucket's 2, from 0
        (H, 0.2, 0.02),  # exactly at a bound
        (H, 0.5, 0.035),  # rank 5: 0.02 + 0.02 * (5 - 2) / 4
        (H, 0.95, 0.075),  # rank 9.5: 0.04 + 0.04 * (9.5 - 6) / 4
        (H, 1.0, 0.08),
        # A rank in the +Inf bucket: the highest finite bound, as Prometheus answers.
        (Hist((0.1, INF), (1.0, 4.0), 9.0), 0.5, 0.1),
        (Hist((0.1, INF), (0.0, 0.0), 0.0), 0.5, None),
        (Hist((INF,), (3.0,), 1.0), 0.5, None),
    ],
)
def test_quantiles_interpolate_as_histogram_quantile_does(
    hist: Hist, q: float, want: float | None
) -> None:
    got = hist.quantile(q)
    if want is None:
        assert got is None
    else:
        assert got == pytest.approx(want)


def _set(text: str, values: dict[str, float]) -> str:
    """TEXT with the sample lines named by VALUES' keys given their values."""
    out = []
    for line in text.splitlines():
        head = line.rpartition(" ")[0]
        out.append(f"{head} {values[head]}" if head in values else line)
    assert len([x for x in out if x not in text.splitlines()]) == len(values)
    return "\n".join(out) + "\n"


def test_a_delta_is_what_happened_between_two_scrapes_and_a_reset_starts_over() -> None:
    before = parse(VLLM, "tiny")
    ttft, tiny = "vllm:time_to_first_token_seconds", 'model_name="tiny"}'
    after_text = _set(
        VLLM,
        {
            f'{ttft}_bucket{{engine="0",le="0.02",{tiny}': 3,
            f'{ttft}_bucket{{engine="0",le="0.04",{tiny}': 8,
            f'{ttft}_bucket{{engine="0",le="0.08",{tiny}': 13,
            f'{ttft}_bucket{{engine="0",le="+Inf",{tiny}': 13,
            f'{ttft}_sum{{engine="0",{tiny}': 0.45,
            f'vllm:request_success_total{{engine="0",finished_reason="stop",{tiny}': 9,
            f'vllm:num_requests_running{{engine="0",{tiny}': 0,
        },
    )
    d = delta(parse(after_text, "tiny"), before)
    assert d.hists["ttft"].counts == (1.0, 2.0, 3.0, 3.0)
    assert d.hists["ttft"].sum == pytest.approx(0.1)
    assert d.hists["ttft"].mean() == pytest.approx(0.1 / 3)
    assert d.counters["requests"] == 3.0
    assert d.counters["preemptions"] == 0.0
    assert d.gauges["running"] == 0.0  # a gauge as read at the end
    # The server restarted in between: its counts went down, so they count from zero.
    restarted = delta(before, parse(after_text, "tiny"))
    assert restarted.hists["ttft"].counts == before.hists["ttft"].counts
    assert restarted.counters["requests"] == 10.0
    both = total([d, d])
    assert both.hists["ttft"].counts == (2.0, 4.0, 6.0, 6.0)
    assert both.counters["requests"] == 6.0


def test_summary_metric_and_dashboard_line_in_ms() -> None:
    m = metric(H)
    assert m == {"count": 10, "mean": 35.0, "p50": 35.0, "p95": 75.0, "p99": 79.0}
    d = delta(parse(VLLM, "tiny"), None)
    line = dashboard_line(d)
    assert line == "TTFT ~35/75 mean 35 | run 3 wait 1 KV 25%"
    assert dashboard_line(delta(parse("", "m"), None)) == "no requests seen"


def test_a_percentile_in_the_first_bucket_is_only_its_bound() -> None:
    # vLLM's queue-time buckets start at 300 ms; on a real CPU vLLM (0.32, tiny-llama,
    # 4 streams) every request queued for about 0.01 ms, and interpolating from 0 said
    # p50 150 ms and p95 285 ms.
    queue = Hist((0.3, 0.5, 0.8, INF), (160.0, 160.0, 160.0, 160.0), 0.0018)
    assert queue.in_first_bucket(0.5) and queue.in_first_bucket(0.99)
    m = metric(queue)
    assert m["p50"] == m["p95"] == m["p99"] == 300.0 and m["at_most"] == ["p50", "p95", "p99"]
    assert m["mean"] == pytest.approx(0.011, abs=0.001)
    # Above the first bucket the interpolation stands, and nothing is marked.
    assert not H.in_first_bucket(0.5) and "at_most" not in metric(H)
    assert H.in_first_bucket(0.1)
