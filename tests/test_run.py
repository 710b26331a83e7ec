"""`loadtest run` end to end against the simulator: files, fidelity, coordinated omission,
Ctrl-C, secrets, bad profiles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram
from rich.console import Console

from loadtest import hlog
from loadtest.cli import main
from loadtest.profile import load_profile
from loadtest.runner import run
from loadtest.schema import Summary

OFF_PEAK = "2026-11-22T03:00:00-05:00"


def _profile(tmp: Path, body: str, sim_config: str | None = None) -> Path:
    sim = f'[simulator]\nseed = 1\nsim_start = "{OFF_PEAK}"\n'
    if sim_config is not None:
        cfg = tmp / "sim.toml"
        cfg.write_text(sim_config)
        sim += f'config = "{cfg}"\n'
    path = tmp / "p.toml"
    path.write_text(f'out = "{tmp / "reports"}"\n' + body + "\n" + sim)
    return path


def _run(path: Path) -> tuple[Path, Summary]:
    return run(load_profile(path), Console(quiet=True), live=False, quiet=True)


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_targets_side_by_side_write_consistent_files(tmp_path: Path) -> None:
    path = _profile(
        tmp_path,
        """
duration = "3s"
warmup = "0.5s"
interval = "1s"
[load]
concurrency = 4
[workload]
input_tokens = 50
output_tokens = 16
[[targets]]
name = "nano"
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
[[targets]]
name = "haiku"
kind = "anthropic"
model = "claude-3-5-haiku"
base_url = "sim"
""",
    )
    run_dir, summary = _run(path)
    assert {p.name for p in run_dir.iterdir()} == {
        "run.json",
        "profile.json",
        "results.jsonl",
        "intervals.hlog",
        "summary.json",
        "index.html",
        "hgrm",
    }
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    lines = _lines(run_dir)
    hlog_counts: Counter[str] = Counter()
    for line in (run_dir / "intervals.hlog").read_text().splitlines():
        if line.startswith("Tag="):
            tag, _, _, _, encoded = hlog.parse_line(line)
            hlog_counts[tag] += HdrHistogram.decode(encoded).get_total_count()
    for name in ("nano", "haiku"):
        t = summary["targets"][name]
        req = t["requests"]
        assert req["completed"] > 5 and req["failed"] == 0
        assert req["recorded"] == sum(1 for x in lines if x["target"] == name and x["measured"])
        assert req["sent"] == sum(1 for x in lines if x["target"] == name)
        assert t["metrics"]["ttft"]["count"] == req["completed"] == hlog_counts[f"{name}/ttft"]
        assert t["metrics"]["output_tokens"]["p50"] == 16
        assert t["tokens"]["requests_with_counted_tokens"] == 0
    assert summary["run"]["stopped_by"] == "duration"


@pytest.mark.slow
def test_injected_ttft_and_gaps_are_recovered(tmp_path: Path) -> None:
    path = _profile(
        tmp_path,
        """
duration = "20s"
requests = 40
[load]
concurrency = 4
[workload]
input_tokens = 20
output_tokens = 30
ignore_eos = true
[[targets]]
kind = "openai"
model = "fixed"
base_url = "sim"
""",
        sim_config="""
[models.fixed]
ttft_median_ms = 150
ttft_p95_ms = 150.15
prefill_ms_per_1k_tokens = 0
tokens_per_s = 50
token_jitter = 0
""",
    )
    _, summary = _run(path)
    m = summary["targets"]["fixed"]["metrics"]
    assert summary["targets"]["fixed"]["requests"]["recorded"] == 40
    # Never early; later by the request's trip to the server's clock (~1 ms) plus
    # scheduling jitter of two processes on two unpinned cores (measured: p50 +2, max +8 ms).
    assert 150 <= m["ttft"]["p50"] <= 155
    assert 150 <= m["ttft"]["p99"] <= 162
    assert m["itl"]["p50"] == pytest.approx(20, abs=1)
    assert m["output_speed"]["p50"] == pytest.approx(50, rel=0.05)
    assert m["output_tokens"]["max"] == 30


@pytest.mark.slow
def test_tpot_and_speed_count_tokens_when_an_event_carries_four(tmp_path: Path) -> None:
    # The same 50 tok/s model, one token per event and four (vLLM's stream interval,
    # Anthropic's deltas): TPOT and speed follow the tokens, ITL the events.
    model = "ttft_median_ms = 100\nttft_p95_ms = 100.1\nprefill_ms_per_1k_tokens = 0\n"
    model += "tokens_per_s = 50\ntoken_jitter = 0\n"
    targets = "".join(
        f'[[targets]]\nname = "{m}"\nkind = "openai"\nmodel = "{m}"\nbase_url = "sim"\n'
        for m in ("single", "packed")
    )
    path = _profile(
        tmp_path,
        'duration = "20s"\nrequests = 12\n[load]\nconcurrency = 4\n'
        "[workload]\ninput_tokens = 20\noutput_tokens = 33\nignore_eos = true\n" + targets,
        sim_config=f"[models.single]\n{model}[models.packed]\n{model}tokens_per_event = 4\n",
    )
    _, summary = _run(path)
    single = summary["targets"]["single"]["metrics"]
    packed = summary["targets"]["packed"]["metrics"]
    assert single["tpot"]["p50"] == pytest.approx(20, abs=1)
    # 33 tokens in 9 events, the last 32 gaps after the first: TPOT 20 ms. Counting
    # events instead (what loadtest did) gave 8 gaps of 80 ms.
    assert packed["tpot"]["p50"] == pytest.approx(20, abs=1)
    assert packed["output_speed"]["p50"] == pytest.approx(50, rel=0.05)
    assert packed["itl"]["p50"] == pytest.approx(80, abs=2)
    assert packed["output_tokens"]["max"] == 33


@pytest.mark.slow
def test_a_server_stall_shows_from_the_intended_time_not_in_service_time(tmp_path: Path) -> None:
    # 100 req/s of ~20 ms requests, at most 4 in flight; the simulator freezes for 2 s,
    # 4 s after it starts (the run starts about 0.5 s after it).
    path = _profile(
        tmp_path,
        """
duration = "7s"
[load]
mode = "open"
rate = 100
max_in_flight = 4
[workload]
input_tokens = 20
output_tokens = 1
[[targets]]
kind = "openai"
model = "quick"
base_url = "sim"
""",
        sim_config="""
[models.quick]
ttft_median_ms = 20
ttft_p95_ms = 20.02
prefill_ms_per_1k_tokens = 0
token_jitter = 0
[[models.quick.faults.windows]]
kind = "stall"
start_s = 4
duration_s = 2
""",
    )
    _, summary = _run(path)
    t = summary["targets"]["quick"]
    m = t["metrics"]
    assert m["ttft"]["p99"] < 200  # only the few requests held by the server saw the stall
    assert m["ttft_from_intended"]["p99"] > 1500  # what users would have seen
    assert m["schedule_lag"]["max"] > 1500
    assert t["requests"]["late"] >= 150  # ~100/s came due during the 2 s freeze
    assert t["requests"]["failed"] == 0


@pytest.mark.slow
def test_ctrl_c_stops_and_leaves_complete_readable_files(tmp_path: Path) -> None:
    path = _profile(
        tmp_path,
        """
duration = "60s"
interval = "1s"
[load]
concurrency = 4
[workload]
input_tokens = 20
output_tokens = 40
[[targets]]
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
""",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path), "--no-live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 130, out
    run_dir = next((tmp_path / "reports").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["stopped_by"] == "interrupted"
    assert summary["run"]["duration_s"] < 30
    lines = _lines(run_dir)
    assert len(lines) == summary["targets"]["gpt-4o-nano"]["requests"]["sent"] > 0
    assert all(x["error"] is None for x in lines)  # in-flight requests were let finish
    assert "report:" in out


def test_rate_limit_headers_and_429s_are_kept_per_interval(tmp_path: Path) -> None:
    path = _profile(
        tmp_path,
        """
duration = "3s"
interval = "1s"
[load]
concurrency = 2
[workload]
output_tokens = 2
[[targets]]
kind = "anthropic"
model = "tight"
base_url = "sim"
""",
        sim_config="""
[models.tight]
base = "claude-3-5-haiku"
ttft_median_ms = 20
ttft_p95_ms = 21
[models.tight.limits]
rpm = 10
tpm = 0
""",
    )
    _, summary = _run(path)
    t = summary["targets"]["tight"]
    assert t["rate_limit"]["anthropic-ratelimit-requests-limit"] == "10"
    assert t["errors"]["http_429"] > 0 and t["requests"]["completed"] == 10
    intervals = t["intervals"]
    assert len(intervals) >= 3
    assert sum(i["completed"] for i in intervals) == 10
    assert sum(i["errors"].get("http_429", 0) for i in intervals) == t["errors"]["http_429"]
    first = intervals[0]["rate_limit"]
    assert first["anthropic-ratelimit-requests-remaining"] == "0"  # 10 requests in the 1st second
    assert "retry-after" in first


def test_api_keys_appear_in_no_file_or_output(tmp_path: Path) -> None:
    secret = "sk-test-do-not-write-0123456789"
    path = _profile(
        tmp_path,
        """
duration = "2s"
[load]
concurrency = 2
[workload]
output_tokens = 4
[[targets]]
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
api_key_env = "LOADTEST_TEST_SECRET"
""",
    )
    env = {**os.environ, "LOADTEST_TEST_SECRET": secret}
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "run", str(path), "--no-live"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    files = list((tmp_path / "reports").rglob("*"))
    assert any(f.name == "results.jsonl" for f in files)
    for f in files:
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f


def test_malformed_profile_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[targets]]\nkind = "openai"\nmodel = "m"\nconcurency = 3\n')
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"loadtest: error: {bad}: targets[0].concurency: unknown key\n"


def test_validate_prints_the_resolved_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "profiles/quickstart.toml"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert [t["model"] for t in resolved["targets"]] == [
        "gpt-4o-mini",
        "gpt-4o-nano",
        "claude-3-5-haiku",
    ]
    assert resolved["load"]["concurrency"] == 8


@pytest.mark.slow
def test_no_interval_is_lost_when_the_run_ends_on_a_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stop and the last interval boundary fall together, and the roll (slowed here:
    # each of its yields to the loop takes 50 ms) is still under way when the in-flight
    # requests have drained. Every measured request must still be in the totals and in
    # exactly one interval.
    import asyncio
    import types

    from loadtest import recorder

    async def slow_yield(_: float) -> None:
        await asyncio.sleep(0.05)

    monkeypatch.setattr(recorder, "asyncio", types.SimpleNamespace(sleep=slow_yield))
    path = _profile(
        tmp_path,
        """
duration = "2s"
warmup = "0s"
interval = "1s"
[load]
concurrency = 16
[workload]
input_tokens = 20
output_tokens = 8
[[targets]]
name = "nano"
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
""",
        sim_config="[models.gpt-4o-nano]\nttft_median_ms = 20\nttft_p95_ms = 60\n",
    )
    run_dir, summary = _run(path)
    t = summary["targets"]["nano"]
    measured = sum(1 for x in _lines(run_dir) if x["measured"] and x["error"] is None)
    assert t["requests"]["completed"] == measured > 100
    assert sum(i["completed"] for i in t["intervals"]) == measured
    assert t["metrics"]["ttft"]["count"] == measured


@pytest.mark.slow
def test_a_closed_terminal_still_leaves_a_complete_report(tmp_path: Path) -> None:
    # The live view draws on a real pseudo-terminal; closing it makes every write fail
    # (EIO) and brings SIGHUP, as a closed window or a dropped SSH session does.
    import pty

    path = _profile(
        tmp_path,
        """
duration = "60s"
interval = "1s"
[load]
concurrency = 2
[workload]
input_tokens = 20
output_tokens = 20
[[targets]]
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
""",
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "100", "LINES": "30"},
    )
    os.close(slave)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:  # keep the terminal drained while it is open
        try:
            os.read(master, 65536)
        except OSError:
            break
    os.close(master)
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=40)
    run_dir = next((tmp_path / "reports").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["stopped_by"] == "hangup" and summary["run"]["duration_s"] < 30
    lines = _lines(run_dir)
    assert len(lines) == summary["targets"]["gpt-4o-nano"]["requests"]["sent"] > 0
