"""Every request a run sent or meant to send is accounted for, end to end against the
simulator: in summary.json, one line each in results.jsonl, and in the reports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from loadtest.profile import load_profile
from loadtest.report.run_data import load_run
from loadtest.report.tables import accounting_text
from loadtest.report.write import render
from loadtest.runner import run

SIM = '[simulator]\nseed = 3\nsim_start = "2026-11-22T03:00:00-05:00"\n'


def _lines(run_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_second_ctrl_c_abandons_in_flight_requests_and_counts_them(tmp_path: Path) -> None:
    # Four streams of 2,000 tokens at the preset's pace take far longer than the 4 s
    # before the second Ctrl-C: all four are cut off in flight.
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "60s"\ninterval = "1s"\n'
        "[load]\nconcurrency = 4\n[workload]\ninput_tokens = 20\noutput_tokens = 2000\n"
        'ignore_eos = true\n[[targets]]\nkind = "openai"\nmodel = "gpt-4o-mini"\n'
        f'base_url = "sim"\n{SIM}'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path), "--no-live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 130, out
    run_dir = next((tmp_path / "reports").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    req = summary["targets"]["gpt-4o-mini"]["requests"]
    assert req["abandoned"] == req["sent"] == 4 and req["completed"] == 0, req
    lines = _lines(run_dir)
    assert Counter(x["error"] for x in lines) == {"abandoned": 4}
    assert all(x["sent_ms"] is not None and x["measured"] for x in lines)
    expected = "gpt-4o-mini: sent 4 = 0 completed + 4 abandoned"
    assert expected in (run_dir / "index.html").read_text()
    assert expected in render(load_run(run_dir), "md")


@pytest.mark.slow
def test_due_requests_never_sent_are_shed_or_unsent_and_each_has_a_line(
    tmp_path: Path,
) -> None:
    # 200 req/s offered to a model that takes ~1 s, with two slots: nearly every arrival
    # waits, and those still waiting at the stop are never sent.
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "2s"\n'
        '[load]\nmode = "open"\nrate = 200\nmax_in_flight = 2\n'
        "[workload]\ninput_tokens = 20\noutput_tokens = 1\n"
        '[[targets]]\nkind = "openai"\nmodel = "slow"\nbase_url = "sim"\n'
        f'{SIM}config = "{tmp_path / "sim.toml"}"\n'
    )
    (tmp_path / "sim.toml").write_text(
        "[models.slow]\nttft_median_ms = 900\nttft_p95_ms = 900.1\n"
        "prefill_ms_per_1k_tokens = 0\ntoken_jitter = 0\n"
    )
    run_dir, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    req = summary["targets"]["slow"]["requests"]
    assert req["sent"] == req["completed"] + req["failed"] + req["abandoned"]
    assert req["unsent"] > 300 and req["sent"] <= 6, req
    lines = _lines(run_dir)
    outcomes = Counter(x["error"] or "ok" for x in lines)
    assert outcomes["unsent"] == req["unsent"] and outcomes["shed"] == req["shed"]
    assert len(lines) == req["sent"] + req["shed"] + req["unsent"]
    # The schedule's every arrival: 200/s for 2 s, the first at 0.
    assert len(lines) == 400
    assert all(x["sent_ms"] is None for x in lines if x["error"] in ("shed", "unsent"))
    md = render(load_run(run_dir), "md")
    assert f"never sent: {req['unsent']} unsent" in md, md


def test_accounting_text_names_only_what_happened() -> None:
    req = {"sent": 12, "recorded": 12, "completed": 10, "failed": 2, "late": 0, "shed": 0}
    t = {"requests": req | {"abandoned": 0, "warmup": 4}}
    assert accounting_text(t) == ""  # type: ignore[arg-type]  # a partial target block
    t = {"requests": req | {"sent": 19, "abandoned": 3, "warmup": 4, "unsent": 7, "late": 5}}
    assert accounting_text(t) == (  # type: ignore[arg-type]
        "sent 19 = 4 warm-up + 10 completed + 2 failed + 3 abandoned; never sent: 7 unsent; 5 late"
    )
