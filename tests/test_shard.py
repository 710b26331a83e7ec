"""Shards in separate processes: a pickled spec in, encoded histograms and records out."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from pathlib import Path

import pytest

from loadtest.metrics import TTFT
from loadtest.profile import load_profile
from loadtest.shard import ShardOutput, merge_histograms, run_shard
from loadtest.shard_io import ShardSpec
from loadtest.sim.process import Simulator

PROFILE = """
name = "shards"
duration = "2s"
warmup = "0s"
interval = "0.5s"
[load]
concurrency = 3
[workload]
input_tokens = 20
output_tokens = 8
ignore_eos = true
[[targets]]
name = "nano"
kind = "openai-compatible"
model = "gpt-4o-nano"
base_url = "{base}"
"""


@pytest.mark.slow
def test_two_shards_in_two_processes_merge_to_their_records(tmp_path: Path) -> None:
    sim_cfg = tmp_path / "sim.toml"
    sim_cfg.write_text("[models.gpt-4o-nano]\nttft_median_ms = 40\nttft_p95_ms = 80\n")
    with Simulator(sim_cfg, seed=2, sim_start="2026-11-22T03:00:00-05:00") as sim:
        path = tmp_path / "p.toml"
        path.write_text(PROFILE.format(base=sim.openai_base_url))
        p = load_profile(path, env={})
        spec = ShardSpec(p, (("nano", sim.openai_base_url),))
        assert pickle.loads(pickle.dumps(spec)) == spec
        with mp.get_context("spawn").Pool(2) as pool:
            outputs: list[ShardOutput] = pool.map(run_shard, [spec, spec])
    merged = merge_histograms(outputs)
    ok = [r for out in outputs for r, _, measured in out.records if measured and not r.error]
    assert len(ok) > 20
    assert all(out.stopped_by == "duration" for out in outputs)
    assert merged["nano"][TTFT].get_total_count() == len(ok)
    assert sum(out.status["nano"].recorded for out in outputs) == len(ok)
    # every interval of both shards arrived, each with its own histograms
    assert all(len(out.intervals) >= 4 for out in outputs)
    assert 30_000 <= merged["nano"][TTFT].get_value_at_percentile(50) <= 60_000  # us
