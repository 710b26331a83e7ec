"""The built-in simulator lives exactly as long as the run that started it: a run killed
with SIGKILL leaves no simulator behind, and a terminal's Ctrl-C (sent to the whole
foreground process group) reaches the run, which drains, not the simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SIM = '[simulator]\nseed = 2\nsim_start = "2026-11-22T03:00:00-05:00"\nworkers = {workers}\n'


def _profile(tmp: Path, workers: int = 1) -> Path:
    path = tmp / "p.toml"
    path.write_text(
        f'out = "{tmp / "reports"}"\nduration = "60s"\ninterval = "1s"\n'
        "[load]\nconcurrency = 4\n[workload]\ninput_tokens = 20\noutput_tokens = 200\n"
        'ignore_eos = true\n[[targets]]\nkind = "openai"\nmodel = "gpt-4o-nano"\n'
        f'base_url = "sim"\n{SIM.format(workers=workers)}'
    )
    return path


def _children(pid: int) -> list[int]:
    """Processes whose parent is PID (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]
    except OSError:
        return "?"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_simulator(
    run: subprocess.Popen[str], workers: int = 1, timeout: float = 20.0
) -> list[int]:
    """The simulator's processes under RUN, once it has started them all (with WORKERS
    above 1, its worker processes too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # (Not the server-metrics scraper, which starts first.)
        sims = [p for p in _children(run.pid) if "spawn_main" not in _cmdline(p)]
        below = [w for s in sims for w in _children(s)]
        if sims and (workers == 1 or len(below) >= workers):
            time.sleep(0.5)  # multiprocessing's helper, if any, too
            return sims + [w for s in sims for w in _children(s)]
        time.sleep(0.1)
    raise AssertionError("the run started no simulator")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_run_leaves_no_simulator_behind(tmp_path: Path, workers: int) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(_profile(tmp_path, workers)), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        found = _wait_for_simulator(run, workers)
        # The run's children: the simulator (with workers, its worker processes and
        # multiprocessing's helper) and the process that scrapes its /metrics.
        scraper = [p for p in _children(run.pid) if "spawn_main" in _cmdline(p)]
        sims = [p for p in found if p not in scraper]
        assert len(scraper) == 1, [_cmdline(p) for p in found]
        assert len(sims) == 1 if workers == 1 else len(sims) >= 1 + workers, sims
        sims += scraper  # none may outlive the run
        run.kill()  # SIGKILL: no handler, no cleanup of its own
        run.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in sims) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in sims if _alive(p)]
        assert not left, f"outlived its run: {[_cmdline(p) for p in left]}"
    finally:
        if run.poll() is None:
            run.kill()


@pytest.mark.slow
def test_a_terminal_ctrl_c_drains_against_a_simulator_still_serving(tmp_path: Path) -> None:
    # A run in its own process group, as a terminal's foreground job is; Ctrl-C there
    # signals the whole group. The simulator, in a session of its own, keeps serving
    # the four streams in flight (about 2 s each) until they finish.
    run = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(_profile(tmp_path)), "--no-live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_simulator(run)
        time.sleep(2.5)
        os.killpg(run.pid, signal.SIGINT)
        out, _ = run.communicate(timeout=40)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, out
    summary = json.loads(next((tmp_path / "reports").glob("*/summary.json")).read_text())
    target = summary["targets"]["gpt-4o-nano"]
    assert target["errors"] == {}, target["errors"]  # no false connect/truncated errors
    assert target["requests"]["abandoned"] == 0 and target["requests"]["completed"] >= 4
