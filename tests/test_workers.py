"""`loadtest run --workers N` for real: worker processes against the simulator, their
intervals merged in the parent into one run's files; a worker that crashes or hangs;
Ctrl-C from a terminal (the whole process group) once and twice; no orphans."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram
from rich.console import Console
from test_lifetime import _alive, _children

from loadtest import hlog
from loadtest import worker as worker_module
from loadtest import workers as workers_module
from loadtest.cli.running import outcome
from loadtest.errors import ExitCode
from loadtest.profile import load_profile
from loadtest.runner import run
from loadtest.schema import Summary

SIM = '[simulator]\nseed = 4\nsim_start = "2026-11-22T03:00:00-05:00"\n'
TARGETS = """
[[targets]]
name = "mini"
kind = "openai"
model = "gpt-4o-mini"
base_url = "sim"
[[targets]]
name = "haiku"
kind = "anthropic"
model = "claude-3-5-haiku"
base_url = "sim"
"""


def _profile(tmp: Path, body: str, workers: int = 2) -> Path:
    path = tmp / "p.toml"
    path.write_text(
        f'out = "{tmp / "reports"}"\nworkers = {workers}\ninterval = "0.5s"\n'
        f"{body}\n[workload]\ninput_tokens = 40\noutput_tokens = 24\n{SIM}{TARGETS}"
    )
    return path


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]


def _adds_up(run_dir: Path, summary: Summary) -> None:
    """The summary's counts are those of results.jsonl, and its histograms those of the
    hlog: nothing a worker sent was lost or counted twice."""
    lines = _lines(run_dir)
    logged: Counter[str] = Counter()
    for row in (run_dir / "intervals.hlog").read_text().splitlines():
        if row.startswith("Tag="):
            tag, _, _, _, encoded = hlog.parse_line(row)
            logged[tag] += HdrHistogram.decode(encoded).get_total_count()
    for name, t in summary["targets"].items():
        mine = [x for x in lines if x["target"] == name]
        req = t["requests"]
        assert len(mine) == req["sent"] + req["shed"] + req["unsent"], name
        measured = [x for x in mine if x["measured"] and x["sent_ms"] is not None]
        assert len(measured) == req["recorded"] + req["abandoned"], name
        ok = [x for x in measured if x["error"] is None]
        assert len(ok) == req["completed"] == t["metrics"]["ttft"]["count"], name
        assert logged[hlog.tag(name, "ttft")] == req["completed"], name


def _pids_gone(summary: Summary) -> None:
    for w in summary["client_health"]["workers"]:
        assert not _alive(w["pid"]), f"worker {w['worker']} (pid {w['pid']}) outlived the run"


@pytest.mark.slow
def test_two_workers_write_one_run_whose_numbers_add_up(tmp_path: Path) -> None:
    path = _profile(tmp_path, 'duration = "3s"\nwarmup = "0.5s"\n[load]\nconcurrency = 7')
    run_dir, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    one_dir, one = run(
        load_profile(_profile(tmp_path, 'duration = "1s"\n[load]\nconcurrency = 2', 1)),
        Console(quiet=True),
        live=False,
        quiet=True,
    )
    # The layout of a one-process run, file for file.
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in one_dir.iterdir())
    assert "workers" not in one["client_health"] and one["applied"]["processes"] == 1
    _adds_up(run_dir, summary)
    assert summary["applied"]["processes"] == 2
    assert summary["run"]["stopped_by"] == "duration" and "partial" not in summary["run"]
    rows = summary["client_health"]["workers"]
    assert [(w["worker"], w["state"]) for w in rows] == [(0, "done"), (1, "done")]
    assert all(w["intervals"] >= 6 and w["pid"] > 0 for w in rows)
    _pids_gone(summary)
    # Both workers worked: 7 streams are 4 + 3, and each target got its 7.
    lines = _lines(run_dir)
    for name, t in summary["targets"].items():
        assert t["requests"]["completed"] > 20
        sent = [x["sent_ms"] for x in lines if x["target"] == name and x["sent_ms"] < 100]
        assert len(sent) == 7, (name, sent)  # all seven streams began at the start instant
    assert outcome(summary) == (ExitCode.OK, "")


@pytest.mark.slow
def test_intervals_far_larger_than_a_pipe_buffer_cross_it_whole(tmp_path: Path) -> None:
    # Each interval's lines are hundreds of KB (a pipe holds 64 KB): a fd made
    # non-blocking under a reader once cut such messages and lost the workers.
    (tmp_path / "fast.toml").write_text(
        '[models."*"]\nttft_median_ms = 5\nttft_p95_ms = 8\ntokens_per_s = 4000\n'
        '[models."*".limits]\nrpm = 0\ntpm = 0\n'
    )
    path = _profile(tmp_path, 'duration = "3s"\n[load]\nmode = "open"\nrate = 250')
    config = f'[simulator]\nconfig = "{tmp_path}/fast.toml"\n'
    path.write_text(path.read_text().replace("[simulator]\n", config))
    run_dir, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    assert [w["state"] for w in summary["client_health"]["workers"]] == ["done", "done"]
    assert (run_dir / "results.jsonl").stat().st_size > 3 * 65536
    _adds_up(run_dir, summary)
    for t in summary["targets"].values():
        assert t["requests"]["completed"] > 500


def _kill_worker(k: int, sig: signal.Signals, after_s: float) -> threading.Thread:
    """Send SIG to worker K of the run this process is driving, AFTER_S into it."""

    def go() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            named = [p for p in mp.active_children() if p.name == f"loadtest-worker-{k}"]
            if named and named[0].pid:
                time.sleep(after_s)
                os.kill(named[0].pid, sig)
                return
            time.sleep(0.05)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


@pytest.mark.slow
def test_a_crashed_worker_is_named_and_the_others_finish(tmp_path: Path) -> None:
    path = _profile(tmp_path, 'duration = "4s"\n[load]\nconcurrency = 6')
    killer = _kill_worker(1, signal.SIGKILL, 2.5)  # ready after ~1.5 s, then 1 s of load
    run_dir, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    killer.join()
    assert summary["run"].get("partial") is True
    rows = {w["worker"]: w for w in summary["client_health"]["workers"]}
    assert rows[0]["state"] == "done"
    assert rows[1]["state"] == "crashed" and "SIGKILL" in rows[1]["error"]
    assert rows[1]["intervals"] < rows[0]["intervals"]
    code, why = outcome(summary)
    assert code == ExitCode.FAILED and "worker 1 crashed" in why and "partial" in why
    page = (run_dir / "index.html").read_text()
    assert "worker 1 crashed (killed by SIGKILL)" in page and "the run is partial" in page
    # What the lost worker had sent stays (lines and histograms agree), and the run
    # went on to its end with the other.
    lines = _lines(run_dir)
    by_worker_time = Counter(x["target"] for x in lines if (x["sent_ms"] or 0) > 3000)
    assert sum(by_worker_time.values()) > 0
    for name, t in summary["targets"].items():
        mine = [x for x in lines if x["target"] == name and x["measured"]]
        ok = [x for x in mine if x["error"] is None]
        assert len(ok) == t["requests"]["completed"] == t["metrics"]["ttft"]["count"]
        # What it had in flight when lost is abandoned: every request sent has one end.
        req = t["requests"]
        assert req["abandoned"] > 0, req
        assert req["sent"] == req["warmup"] + req["completed"] + req["failed"] + req["abandoned"]
    _pids_gone(summary)


@pytest.mark.slow
def test_a_hung_worker_is_given_up_on_and_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers_module, "HANG_MIN_S", 1.5)
    monkeypatch.setattr(workers_module, "HANG_INTERVALS", 2)
    path = _profile(tmp_path, 'duration = "5s"\n[load]\nconcurrency = 4')
    stopper = _kill_worker(0, signal.SIGSTOP, 1.0)
    started = time.monotonic()
    _, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    stopper.join()
    assert time.monotonic() - started < 20
    rows = {w["worker"]: w for w in summary["client_health"]["workers"]}
    assert rows[0]["state"] == "hung" and "no word for" in rows[0]["error"]
    assert rows[1]["state"] == "done"
    assert summary["run"].get("partial") is True
    assert outcome(summary)[0] == ExitCode.FAILED
    _pids_gone(summary)


def _cli(path: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path), "--no-live", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches all
    )


def _wait_for(proc: subprocess.Popen[str], text: str, timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"no {text!r} in {seen[-2000:]}")


@pytest.mark.slow
def test_ctrl_c_drains_every_worker_and_leaves_no_process(tmp_path: Path) -> None:
    path = _profile(tmp_path, 'duration = "60s"\n[load]\nconcurrency = 4')
    proc = _cli(path)
    _wait_for(proc, "2/60s")
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the parent and its workers
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == ExitCode.INTERRUPTED, out
    run_dir = next((tmp_path / "reports").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["stopped_by"] == "interrupted"
    assert [w["state"] for w in summary["client_health"]["workers"]] == ["done", "done"]
    _adds_up(run_dir, summary)
    assert all(x["error"] is None for x in _lines(run_dir))  # in flight: let finish
    _pids_gone(summary)


@pytest.mark.slow
def test_a_second_ctrl_c_stops_every_worker_now(tmp_path: Path) -> None:
    (tmp_path / "slow.toml").write_text('[models."*"]\ntokens_per_s = 5\n')  # ~5 s a request
    path = _profile(tmp_path, 'duration = "60s"\n[load]\nconcurrency = 4')
    text = path.read_text().replace(
        "[simulator]\n", f'[simulator]\nconfig = "{tmp_path}/slow.toml"\n'
    )
    path.write_text(text)
    proc = _cli(path)
    _wait_for(proc, "2/60s")
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    out, _ = proc.communicate(timeout=40)
    assert time.monotonic() - started < 15, out
    assert proc.returncode == ExitCode.INTERRUPTED, out
    run_dir = next((tmp_path / "reports").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    abandoned = sum(t["requests"]["abandoned"] for t in summary["targets"].values())
    assert abandoned > 0, summary["targets"]
    _adds_up(run_dir, summary)
    _pids_gone(summary)


@pytest.mark.slow
def test_a_killed_parent_leaves_no_worker_behind(tmp_path: Path) -> None:
    path = _profile(tmp_path, 'duration = "60s"\n[load]\nconcurrency = 4')
    proc = _cli(path)
    try:
        _wait_for(proc, "2/60s")
        # Its spawned children: the two workers and the process that scrapes the
        # simulator's /metrics (loadtest.server_scrape); none may outlive it.
        workers = [c for c in _children(proc.pid) if b"spawn_main" in _cmdline(c)]
        assert len(workers) == 3, workers
        proc.kill()  # SIGKILL: the parent tells no one
        proc.wait(10)
        deadline = time.monotonic() + worker_module.ORPHAN_GRACE_S + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "a worker outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_bad_worker_counts_are_one_line_errors(tmp_path: Path) -> None:
    path = _profile(tmp_path, 'duration = "1s"\n[load]\nconcurrency = 1')
    for flag, said in (("0", "--workers: expected an integer >= 1 or auto"), ("x", "got 'x'")):
        proc = subprocess.run(
            [sys.executable, "-m", "loadtest", "run", str(path), "--workers", flag],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == ExitCode.USER_ERROR and said in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    path.write_text(path.read_text().replace("workers = 2", "workers = -1"))
    with pytest.raises(Exception, match=r'workers: expected an integer >= 1 or "auto"'):
        load_profile(path)
