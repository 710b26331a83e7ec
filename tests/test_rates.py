"""Rates per second of each target's own measured window: from the warm-up's end to
when it stopped sending, never over the drain or another target's. On virtual time
(tests/enginekit.py), so every window is known exactly; then once against the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from enginekit import engine_profile, run_virtual
from rich.console import Console

from loadtest.config_reader import ConfigError
from loadtest.loadspec import Load, Step
from loadtest.metrics import E2E
from loadtest.profile import load_profile
from loadtest.runner import run
from loadtest.schema import Summary
from loadtest.slo import Slo
from loadtest.summary import summarize


def test_an_open_loop_rate_is_its_offer_however_long_the_drain() -> None:
    # 10 req/s from 0.5 s (warm-up) to 2 s: 15 measured, each taking 1 s, so the run
    # ends at 3 s. Over the run less the warm-up this read 15 / 2.5 = 6 req/s.
    profile = engine_profile(Load(mode="open", rate=10.0), duration_s=2.0, warmup_s=0.5)
    result, _, _, ended = run_virtual(profile, lambda t, i: 1.0)
    assert ended == pytest.approx(2.9, abs=0.01)
    rates = summarize(result, profile)["targets"]["a"]["rates"]
    assert rates["window_s"] == 1.5
    assert rates["requests_per_s"] == rates["sent_per_s"] == 10.0
    assert rates["output_tokens_per_s"] == 80.0  # 8 tokens each


def test_a_slow_target_does_not_lower_another_ones_rate() -> None:
    profile = engine_profile(Load(mode="open", rate=4.0), ("fast", "slow"), duration_s=5.0)
    result, _, _, ended = run_virtual(profile, lambda t, i: 0.1 if t == "fast" else 20.0)
    assert ended > 20  # the slow one's drain
    targets = summarize(result, profile)["targets"]
    assert targets["fast"]["rates"]["requests_per_s"] == 4.0
    assert targets["slow"]["rates"]["requests_per_s"] == 4.0
    assert targets["fast"]["rates"]["window_s"] == targets["slow"]["rates"]["window_s"] == 5.0


def test_a_request_count_ends_the_window_when_the_next_one_is_refused() -> None:
    # Two streams, six requests of 1 s: sent at 0, 0, 1, 1, 2, 2; at 3 s the next is
    # refused. Six in three seconds is the throughput the server gave.
    profile = engine_profile(Load(concurrency=2), duration_s=60.0, requests=6)
    result, _, _, _ = run_virtual(profile, lambda t, i: 1.0)
    rates = summarize(result, profile)["targets"]["a"]["rates"]
    assert (rates["window_s"], rates["requests_per_s"], rates["sent_per_s"]) == (3.0, 2.0, 2.0)


def test_an_error_budget_ends_the_window_when_it_stops_the_target() -> None:
    profile = engine_profile(Load(mode="open", rate=10.0), duration_s=60.0, error_budget=0.5)
    result, _, _, _ = run_virtual(profile, lambda t, i: 0.05, fail=lambda t, i: True)
    t = summarize(result, profile)["targets"]["a"]
    assert t["stopped_by"] == "error_budget" and t["requests"]["failed"] == 20
    # The 20th, sent at 1.9 s, fails 25 ms later (halfway, as the fake server fails):
    # the window is 1.925 s.
    assert t["rates"]["window_s"] == pytest.approx(1.925, abs=0.001)
    assert t["rates"]["sent_per_s"] == pytest.approx(20 / 1.925, abs=0.01)
    assert t["rates"]["requests_per_s"] == 0.0 and t["rates"]["error_rate"] == 1.0


def test_a_target_stopped_in_its_warm_up_has_an_empty_window() -> None:
    # Five 401s in a row (a fatal streak) stop it half a second in, in its warm-up.
    profile = engine_profile(Load(mode="open", rate=10.0), duration_s=10.0, warmup_s=5.0)
    result, _, _, _ = run_virtual(profile, lambda t, i: 0.01, fail=lambda t, i: True, status=401)
    t = summarize(result, profile)["targets"]["a"]
    assert t["requests"]["warmup"] == 5 and t["requests"]["recorded"] == 0
    rates = t["rates"]
    assert rates["window_s"] == 0.0 and rates["requests_per_s"] == rates["sent_per_s"] == 0.0


def _fixed_model_run(
    tmp_path: Path, ttft_ms: float, tokens_per_s: float, output_tokens: int, body: str
) -> tuple[Path, Summary]:
    """A run of BODY (duration, warm-up, [load]) against the simulator's model "fixed":
    a TTFT of TTFT_MS, then OUTPUT_TOKENS at TOKENS_PER_S, no jitter."""
    sim = tmp_path / "sim.toml"
    sim.write_text(
        f"[models.fixed]\nttft_median_ms = {ttft_ms}\nttft_p95_ms = {ttft_ms * 1.001}\n"
        f"prefill_ms_per_1k_tokens = 0\ntokens_per_s = {tokens_per_s}\ntoken_jitter = 0\n"
    )
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path}"\n{body}'
        f"[workload]\ninput_tokens = 20\noutput_tokens = {output_tokens}\nignore_eos = true\n"
        '[[targets]]\nkind = "openai"\nmodel = "fixed"\nbase_url = "sim"\n'
        f'[simulator]\nseed = 1\nconfig = "{sim}"\n'
    )
    return run(load_profile(path), Console(quiet=True), live=False, quiet=True)


@pytest.mark.slow
def test_an_open_loop_against_the_simulator_reads_its_offered_rate(tmp_path: Path) -> None:
    # Each request takes about a second, so the drain is a third of the run.
    body = 'duration = "3s"\nwarmup = "0.5s"\n[load]\nmode = "open"\nrate = 20\n'
    _, summary = _fixed_model_run(tmp_path, 200, 40, 32, body)
    t = summary["targets"]["fixed"]
    assert summary["run"]["duration_s"] > 3.8  # the drain of about a second
    assert t["requests"]["completed"] == 50 and t["rates"]["window_s"] == pytest.approx(
        2.5, abs=0.05
    )
    assert t["rates"]["requests_per_s"] == pytest.approx(20, rel=0.03)
    assert t["rates"]["output_tokens_per_s"] == pytest.approx(20 * 32, rel=0.03)


def test_a_stepped_closed_loop_has_a_row_per_step_with_its_own_rate() -> None:
    # 0.25 s requests: one stream for 1 s (4 requests), then three for 1 s (12), and the
    # warm-up takes the first half of step 1.
    load = Load(concurrency=1, steps=(Step(1.0, concurrency=1), Step(1.0, concurrency=3)))
    profile = engine_profile(load, duration_s=2.0, warmup_s=0.5)
    result, _, _, _ = run_virtual(profile, lambda t, i: 0.25)
    t = summarize(result, profile)["targets"]["a"]
    one, three = t["steps"]
    assert (one["step"], one["level"], one["start_s"], one["duration_s"]) == (1, 1.0, 0.0, 1.0)
    assert (three["step"], three["level"], three["start_s"]) == (2, 3.0, 1.0)
    assert one["requests"] == {"recorded": 2, "completed": 2}  # sent at 0.5 and 0.75 s
    assert three["requests"] == {"recorded": 12, "completed": 12}
    assert (one["rates"]["window_s"], one["rates"]["requests_per_s"]) == (0.5, 4.0)
    assert (three["rates"]["window_s"], three["rates"]["requests_per_s"]) == (1.0, 12.0)
    assert one["metrics"]["e2e"]["p50"] == pytest.approx(250, rel=0.001)
    assert three["metrics"]["e2e"]["count"] == 12 and three["errors"] == {}
    assert t["requests"]["completed"] == 14  # the steps add up to the run


def test_an_open_loop_step_keeps_the_requests_it_offered_and_their_errors() -> None:
    # 2 req/s, then 6 req/s whose every third request fails: a step's requests are
    # those due in it, however late they end.
    load = Load(mode="open", rate=2.0, steps=(Step(2.0, rate=2.0), Step(2.0, rate=6.0)))
    profile = engine_profile(load, duration_s=4.0)
    result, _, _, _ = run_virtual(
        profile, lambda t, i: 1.5, fail=lambda t, i: i >= 4 and i % 3 == 0
    )
    low, high = summarize(result, profile)["targets"]["a"]["steps"]
    assert low["requests"]["recorded"] == 4 and low["rates"]["sent_per_s"] == 2.0
    assert high["requests"]["recorded"] == 12 and high["rates"]["sent_per_s"] == 6.0
    assert high["errors"] == {"http_5xx": 4} and low["errors"] == {}
    assert high["rates"]["requests_per_s"] == 4.0


def test_a_load_without_steps_has_no_step_rows() -> None:
    profile = engine_profile(Load(concurrency=2), duration_s=1.0)
    result, _, _, _ = run_virtual(profile, lambda t, i: 0.25)
    assert "steps" not in summarize(result, profile)["targets"]["a"]


@pytest.mark.slow
def test_a_stepped_run_of_the_simulator_reports_each_step(tmp_path: Path) -> None:
    # 300 ms requests (100 ms to the first token, 20 tokens at 100/s): one stream gives
    # about 3.3 req/s, four about 13.
    body = 'duration = "4s"\nwarmup = "0.5s"\ninterval = "1s"\n[load]\n'
    body += '[[load.steps]]\nduration = "2s"\nconcurrency = 1\n'
    body += '[[load.steps]]\nduration = "2s"\nconcurrency = 4\n'
    run_dir, summary = _fixed_model_run(tmp_path, 100, 100, 21, body)
    t = summary["targets"]["fixed"]
    one, four = t["steps"]
    assert (one["level"], four["level"]) == (1.0, 4.0)
    assert one["rates"]["window_s"] == 1.5 and four["rates"]["window_s"] == 2.0
    assert one["rates"]["requests_per_s"] == pytest.approx(1 / 0.3, rel=0.12)
    assert four["rates"]["requests_per_s"] == pytest.approx(4 / 0.3, rel=0.12)
    assert one["metrics"]["ttft"]["p50"] == pytest.approx(100, abs=6)
    done = one["requests"]["completed"] + four["requests"]["completed"]
    assert done == t["requests"]["completed"]
    assert summary["applied"]["warmup_s"] == 0.5 and t["load"]["steps"][1]["level"] == 4.0
    html = (run_dir / "index.html").read_text()
    assert "<h2>Per load step</h2>" in html and "TTFT against throughput" in html
    assert "closed loop, steps of 2 s: 1, 4 streams" in html


def test_goodput_counts_the_completed_requests_within_the_slo_per_step() -> None:
    # One stream: requests of 0.25 s in step 1, of 1 s in step 2; e2e <= 500 ms.
    load = Load(concurrency=1, steps=(Step(2.0, concurrency=1), Step(2.0, concurrency=1)))
    slo = Slo(((E2E, 500_000),))
    profile = engine_profile(load, duration_s=4.0, slo=slo)
    result, _, _, _ = run_virtual(profile, lambda t, i: 0.25 if i < 8 else 1.0)
    summary = summarize(result, profile)
    t = summary["targets"]["a"]
    fast, slow = t["steps"]
    assert (fast["requests"]["good"], slow["requests"]["good"]) == (8, 0)
    assert fast["rates"]["goodput_per_s"] == 4.0 and slow["rates"]["goodput_per_s"] == 0.0
    assert t["requests"]["good"] == 8 and t["rates"]["goodput_per_s"] == 2.0
    assert summary["applied"]["slo"] == "e2e <= 500 ms"


def test_without_an_slo_there_is_no_goodput() -> None:
    profile = engine_profile(Load(concurrency=1), duration_s=1.0)
    result, _, _, _ = run_virtual(profile, lambda t, i: 0.25)
    t = summarize(result, profile)["targets"]["a"]
    assert "goodput_per_s" not in t["rates"] and "good" not in t["requests"]


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('ttft = "500ms"\ne2e = "5s"', None),
        ("", "slo: expected at least one of ttft, tpot, e2e"),
        ('ttft = "fast"', "slo.ttft: expected a duration"),
        ('itl = "50ms"', "slo.itl: unknown key"),
    ],
)
def test_the_slo_table_is_read_or_refused_in_one_line(
    tmp_path: Path, table: str, says: str | None
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        f'[[targets]]\nkind = "openai"\nmodel = "m"\nbase_url = "sim"\n[slo]\n{table}\n'
    )
    if says is None:
        slo = load_profile(path).slo
        assert slo is not None and slo.bounds == (("ttft", 500_000), ("e2e", 5_000_000))
        assert slo.met({"ttft": 400_000, "e2e": 5_000_000}) and not slo.met({"ttft": 500_001})
        return
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_goodput_threshold_reads_it_and_fails_clearly_without_an_slo() -> None:
    from loadtest.thresholds import evaluate, parse

    gate = parse("throughput.goodput >= 3/s")
    load = Load(concurrency=1)
    with_slo = engine_profile(load, duration_s=2.0, slo=Slo(((E2E, 500_000),)))
    result, _, _, _ = run_virtual(with_slo, lambda t, i: 0.25)
    (ok,) = evaluate([gate], summarize(result, with_slo)["targets"])
    assert ok["ok"] and ok["value"] == 4.0
    plain = engine_profile(load, duration_s=2.0)
    result, _, _, _ = run_virtual(plain, lambda t, i: 0.25)
    (no,) = evaluate([gate], summarize(result, plain)["targets"])
    assert not no["ok"] and no.get("note") == "no [slo] in the profile"
