"""`loadtest compare`: a known injected difference is found, with a confidence interval
that excludes no change; a run against itself shows none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from loadtest.cli import main
from loadtest.profile import load_profile
from loadtest.report import compare
from loadtest.report.run_data import load_run
from loadtest.runner import run
from loadtest.tally import nonzero_buckets

PROFILE = """
name = "{name}"
out = "{out}"
duration = "5s"
warmup = "0.5s"
interval = "0.5s"
[load]
concurrency = 8
[workload]
input_tokens = 20
output_tokens = 10
[[targets]]
name = "nano"
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
[simulator]
sim_start = "2026-11-22T03:00:00-05:00"
config = "{cfg}"
"""


def _run(tmp: Path, name: str, ttft_ms: int) -> Path:
    cfg = tmp / f"{name}.sim.toml"
    # TTFT spread out (P95 twice the median) so that P95 has intervals to vary over
    cfg.write_text(
        f"[models.gpt-4o-nano]\nttft_median_ms = {ttft_ms}\nttft_p95_ms = {ttft_ms * 2}\n"
    )
    path = tmp / f"{name}.toml"
    path.write_text(PROFILE.format(name=name, out=tmp / "reports", cfg=cfg))
    run_dir, _ = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    return run_dir


@pytest.mark.slow
def test_a_known_ttft_difference_is_found_with_a_ci_excluding_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _run(tmp_path, "base", 200)
    slow = _run(tmp_path, "slow", 300)  # +50% TTFT injected
    runs = [load_run(base), load_run(slow)]
    rows = {r.label: r for r in compare.compare(runs, rounds=400)["nano"]}
    _, rel50 = rows["ttft p50 (ms)"].delta(1)
    assert rel50 == pytest.approx(0.5, abs=0.12)
    ci = rows["ttft p95 (ms)"].ci[1]
    assert ci is not None and 0 < ci[0] < 0.5 < ci[1]  # excludes 0, holds the truth
    itl_ci = rows["itl p95 (ms)"].ci[1]  # gaps were not changed
    assert itl_ci is not None and itl_ci[0] < 0 < itl_ci[1]
    # the same run against itself: no change, and an interval around 0
    same = {r.label: r for r in compare.compare([runs[0], runs[0]], rounds=200)["nano"]}
    assert same["ttft p95 (ms)"].delta(1) == (0.0, 0.0)
    lo, hi = same["ttft p95 (ms)"].ci[1] or (1.0, 1.0)
    assert lo <= 0 <= hi
    # the command in each format
    assert main(["compare", str(base), str(slow), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "### nano" in md and "| ttft p95 (ms) |" in md and "confidence interval" in md
    out = tmp_path / "cmp.json"
    assert main(["compare", str(base), str(slow), "--format", "json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["targets"]["nano"][0]["metric"] == "ttft p50 (ms)"
    assert data["targets"]["nano"][1]["ci95_relative"][0][0] > 0
    table = compare.compare(runs, rounds=100)
    assert "<table>" in compare.to_html(runs, table) and "slow" in compare.to_html(runs, table)


def test_compare_needs_two_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "/nonexistent"]) == 2
    assert "two or more" in capsys.readouterr().err


def test_nonzero_buckets_match_hdrh_own_iterator() -> None:
    import random

    from hdrh.histogram import HdrHistogram

    rng = random.Random(3)
    h = HdrHistogram(1, 600_000_000, 3)
    for _ in range(2000):
        h.record_value(int(rng.lognormvariate(11, 2)) % 500_000_000 + 1)
    h.record_value(1, 5)  # the first counter, and a count above 1
    expected = {
        h.get_lowest_equivalent_value(x.value_iterated_to): x.count_at_value_iterated_to
        for x in h.get_recorded_iterator()
    }
    assert nonzero_buckets(h) == expected and sum(expected.values()) == 2005
