"""The command line's exit codes: bad input exits 2, a runtime failure 3, a run in which
a target completed no request 4, SIGTERM 143, each with one line on stderr saying why."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loadtest.cli import main
from loadtest.cli.running import outcome
from loadtest.errors import ExitCode
from loadtest.profile import load_profile
from loadtest.scheduler import ProfileLock, lock_path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("loadtest: error: ") and err.count("\n") == 1, err
    return err


def test_a_busy_port_is_a_runtime_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["mock", "--port", str(port)]) == ExitCode.RUNTIME_FAILURE.value == 3
    assert f"cannot listen on 127.0.0.1:{port}" in _one_error_line(capsys)


def test_a_held_schedule_lock_is_a_runtime_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "p"\nrequests = 1\n[[targets]]\nname = "a"\nkind = "openai-compatible"\n'
        'model = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    db = str(tmp_path / "h.db")
    with ProfileLock(lock_path(load_profile(str(path)), db), str(path)):
        code = main(["schedule", str(path), "--store", db, "--fires", "1"])
    assert code == ExitCode.RUNTIME_FAILURE
    assert "already scheduled by pid" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mock", "--workers", "0"], "--workers: expected an integer >= 1"),
        (["report", "/nonexistent/run"], "not a run directory"),
        (["compare", "/nonexistent/run"], "expected two or more run directories"),
    ],
)
def test_bad_input_is_a_user_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USER_ERROR.value == 2
    assert message in _one_error_line(capsys)


def _failing_profile(tmp: Path, duration: str = "10s", requests: int = 6) -> Path:
    """An open-loop run against the simulator whose every request is an HTTP 500."""
    sim = tmp / "sim.toml"
    sim.write_text('[models.f500]\nbase = "gpt-4o-nano"\n[models.f500.faults]\nhttp_500 = 1.0\n')
    path = tmp / "p.toml"
    path.write_text(
        f'name = "p"\nduration = "{duration}"\nrequests = {requests}\nout = "{tmp / "reports"}"\n'
        '[load]\nmode = "open"\nrate = 20\n[workload]\ninput_tokens = 20\noutput_tokens = 4\n'
        '[[targets]]\nname = "down"\nkind = "openai"\nmodel = "f500"\nbase_url = "sim"\n'
        f'[simulator]\nseed = 1\nconfig = "{sim}"\n'
    )
    return path


def test_a_run_whose_every_request_failed_exits_4_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _failing_profile(tmp_path)
    assert main(["run", str(path), "--quiet", "--no-live"]) == ExitCode.NOTHING_COMPLETED.value == 4
    out, err = capsys.readouterr()
    assert err == "loadtest: no request completed: down: all 6 failed (6 http_5xx)\n", err
    summary = json.loads((Path(out.strip()) / "summary.json").read_text())
    # it finished as planned, which alone once made it exit 0
    assert summary["run"]["stopped_by"] == "done"
    assert summary["targets"]["down"]["requests"]["sent"] == 6


def test_sigterm_ends_a_run_with_143_and_its_files_written(tmp_path: Path) -> None:
    path = _failing_profile(tmp_path, duration="60s", requests=0)
    (tmp_path / "sim.toml").write_text("")  # requests that succeed, for a minute
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path), "--quiet", "--no-live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        results = tmp_path / "reports"
        while time.monotonic() < deadline:  # until requests are being written
            if any(f.stat().st_size for f in results.glob("*/results.jsonl")):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == ExitCode.TERMINATED.value == 143, err
    assert err.strip().splitlines()[-1].startswith("loadtest: terminated by SIGTERM"), err
    summary = json.loads((Path(out.strip()) / "summary.json").read_text())
    assert summary["run"]["stopped_by"] == "terminated" and summary["run"]["duration_s"] < 30


def _summary(stopped_by: str, recorded: int, completed: int, thresholds_ok: bool = True) -> Any:
    """The keys outcome() reads, of a one-target summary."""
    errors = {"http_5xx": recorded - completed} if recorded > completed else {}
    requests = {"recorded": recorded, "completed": completed}
    return {
        "run": {"stopped_by": stopped_by},
        "targets": {"t": {"requests": requests, "errors": errors}},
        "thresholds_ok": thresholds_ok,
    }


@pytest.mark.parametrize(
    ("summary", "code", "line"),
    [
        (_summary("duration", 10, 10), ExitCode.OK, ""),
        (_summary("duration", 0, 0), ExitCode.OK, ""),  # nothing measured: nothing failed
        (_summary("done", 10, 1), ExitCode.OK, ""),  # one completed is a measurement
        (_summary("done", 10, 0), ExitCode.NOTHING_COMPLETED, "t: all 10 failed (10 http_5xx)"),
        (_summary("done", 10, 0, thresholds_ok=False), ExitCode.NOTHING_COMPLETED, "all 10"),
        (_summary("done", 10, 9, thresholds_ok=False), ExitCode.THRESHOLDS_FAILED, ""),
        (_summary("interrupted", 10, 0), ExitCode.INTERRUPTED, ""),
        (_summary("terminated", 10, 10), ExitCode.TERMINATED, "terminated by SIGTERM"),
        (_summary("terminated", 10, 0), ExitCode.TERMINATED, "terminated by SIGTERM"),
        (
            _summary("worker died (OSError: disk full)", 3, 3),
            ExitCode.FAILED,
            "worker died (OSError: disk full); the run stopped there",
        ),
    ],
)
def test_a_runs_exit_code_and_its_reason(summary: Any, code: ExitCode, line: str) -> None:
    got, why = outcome(summary)
    assert got == code and line in why and bool(why) == bool(line), why
