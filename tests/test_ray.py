"""`loadtest run --cluster ray` on a real Ray cluster: a head node started here on
127.0.0.1 (two CPUs, token authentication and usage statistics off), two actors
against the simulator; the driver's files are a one-process run's, and their counts
and histograms are what the actors recorded. Skipped where Ray is not installed
(`pip install -e '.[ray]'`; .ci/run installs it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_workers import _adds_up, _lines, _profile

from loadtest.errors import ExitCode

pytest.importorskip("ray")

# Ray's own settings for a closed machine: no token auth to set up, nothing phoned home.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def head() -> Iterator[dict[str, str]]:
    """A Ray head on 127.0.0.1 in a process group of its own (`ray start --block`), so
    that it, and only it, is killed after (`ray stop` would stop every Ray on the
    machine); the environment a driver needs to join it."""
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_bin is not None
    # Ray's sockets live under its temp dir: a short path (a Unix socket's is at most
    # 107 bytes), and one of this test's own, removed after.
    temp = tempfile.mkdtemp(prefix="lt-ray-", dir="/tmp")
    port = _free_port()  # ephemeral: clear of the workers' ports, 10002-19999 by default
    env = {**os.environ, **RAY_ENV}
    start = [
        ray_bin,
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--object-store-memory=100000000",
        f"--temp-dir={temp}",
    ]
    proc = subprocess.Popen(
        start,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        said = ""
        for line in proc.stdout:  # `ray start` says when the node is up
            said += line
            if "Ray runtime started" in line:
                break
        else:
            raise AssertionError(f"the Ray head did not start: {said[-3000:]}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it drained
        yield {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_ray_actors_write_one_run_whose_numbers_add_up(
    tmp_path: Path, head: dict[str, str]
) -> None:
    path = _profile(tmp_path, 'duration = "3s"\nwarmup = "0.5s"\n[load]\nconcurrency = 6')
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "run", str(path), "--no-live"],  # workers = 2
        env=head,  # RAY_ADDRESS set: the cluster is chosen, and said so
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert proc.returncode == ExitCode.OK, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RAY_ADDRESS is set: the workers run on that Ray cluster" in proc.stderr
    run_dir = next((tmp_path / "reports").iterdir())
    files = ("run.json", "profile.json", "results.jsonl", "intervals.hlog", "summary.json")
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([*files, "index.html", "hgrm"])
    summary = json.loads((run_dir / "summary.json").read_text())
    _adds_up(run_dir, summary)
    rows = summary["client_health"]["workers"]
    assert [(w["worker"], w["state"]) for w in rows] == [(0, "done"), (1, "done")]
    for w in rows:
        assert w["node"] == socket.gethostname() and w["pid"] != os.getpid()
        assert abs(w["clock_offset_ms"]) < 50  # one machine: the same clock, give or take
        assert w["intervals"] >= 6
    assert summary["applied"]["processes"] == 2
    assert summary["run"]["stopped_by"] == "duration"
    for name, t in summary["targets"].items():
        assert t["requests"]["completed"] > 15, name
        # Six streams (three per actor) all began at the one start instant.
        first = [x["sent_ms"] for x in _lines(run_dir) if x["target"] == name]
        assert sum(1 for ms in first if ms is not None and ms < 150) == 6, (name, first[:8])


def _actor_pids() -> list[int]:
    """Processes running a ShardWorker actor (Ray names them `ray::ShardWorker...`)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ShardWorker" in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                continue
    return out


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_an_actor_that_dies_is_named_and_the_other_finishes(
    tmp_path: Path, head: dict[str, str]
) -> None:
    path = _profile(tmp_path, 'duration = "4s"\n[load]\nconcurrency = 4')
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path), "--no-live"],
        env=head,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:
        seen += line
        if "2/4s" in line:
            break
    actors = _actor_pids()
    assert len(actors) == 2, (actors, seen[-2000:])
    os.kill(actors[1], 9)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.FAILED, seen + out
    summary = json.loads(next((tmp_path / "reports").glob("*/summary.json")).read_text())
    assert summary["run"]["partial"] is True
    states = sorted(w["state"] for w in summary["client_health"]["workers"])
    assert states == ["crashed", "done"], summary["client_health"]["workers"]
    lost = next(w for w in summary["client_health"]["workers"] if w["state"] == "crashed")
    assert "Error" in lost["error"], lost  # Ray's word for it (an actor died)
    for t in summary["targets"].values():
        req = t["requests"]
        assert req["sent"] == req["warmup"] + req["completed"] + req["failed"] + req["abandoned"]
    assert "the run is partial" in out


def test_more_workers_than_the_cluster_has_cpus_is_one_line(
    tmp_path: Path, head: dict[str, str]
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "2s"\n[load]\nconcurrency = 8\n'
        '[[targets]]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "sim"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "run", str(path), "--workers", "5", "--cluster", "ray"],
        env=head,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == ExitCode.USER_ERROR, proc.stderr[-2000:]
    assert "--workers: 5 asked, the Ray cluster has 2 CPUs" in proc.stderr
    assert "Traceback" not in proc.stderr
