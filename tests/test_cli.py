"""The command line's exit codes: bad input exits 2, a runtime failure 3, each with one
line on stderr naming what failed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from loadtest.cli import main
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
