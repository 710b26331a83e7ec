"""Nothing lost: an unwritable folder is found before the load, a full disk mid-run stops
the writing with one line and the run drains, what was written stays whole and readable,
and a read-only store can still be listed and reported. Real `loadtest` commands against
the simulator; the full disk is a tiny tmpfs (root only, else skipped) or a write that
fails at the file."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest import hlog
from loadtest.cli import main
from loadtest.profile import load_profile

OFF_PEAK = "2026-11-22T03:00:00-05:00"


def _profile(tmp: Path, out: Path, duration: str = "3s", concurrency: int = 16) -> Path:
    path = tmp / "p.toml"
    path.write_text(
        f"""out = "{out}"
duration = "{duration}"
interval = "0.5s"
[load]
concurrency = {concurrency}
[workload]
input_tokens = 20
output_tokens = 4
[[targets]]
name = "nano"
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
[simulator]
seed = 1
sim_start = "{OFF_PEAK}"
"""
    )
    return path


def _loadtest(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "loadtest", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _mount(d: Path, size: str) -> None:
    d.mkdir()
    rc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], check=False
    )
    if rc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")


@pytest.fixture
def tiny_fs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 48 KiB (or the size the test is parametrized with), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tmp_path / "tiny"
    _mount(d, getattr(request, "param", "48k"))
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def _whole_lines(run_dir: Path) -> tuple[int, int]:
    """Every line of results.jsonl parses and every Tag= line of the .hlog decodes."""
    results = (run_dir / "results.jsonl").read_bytes()
    assert results == b"" or results.endswith(b"\n")
    rows = [json.loads(x) for x in results.splitlines()]
    log = (run_dir / "intervals.hlog").read_bytes()
    assert log == b"" or log.endswith(b"\n")
    tags = [x for x in log.decode().splitlines() if x.startswith("Tag=")]
    for line in tags:
        hlog.parse_line(line)
    return len(rows), len(tags)


def test_an_output_folder_under_a_file_fails_before_the_load(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    r = _loadtest("run", _profile(tmp_path, out), "--no-live", "--quiet", "--no-preflight")
    assert r.returncode == 3
    line = _one_line(r.stderr)
    assert line.startswith("loadtest: error: out_dir (--out): cannot write in ")
    assert str(out) in line


def test_a_read_only_output_folder_fails_before_the_load(tiny_fs: Path, tmp_path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    r = _loadtest("run", _profile(tmp_path, tiny_fs / "reports"), "--no-live", "--quiet")
    assert r.returncode == 3
    assert "read-only file system" in _one_line(r.stderr).lower()


def test_a_full_disk_mid_run_stops_writing_and_drains(tiny_fs: Path, tmp_path: Path) -> None:
    r = _loadtest(
        "run", _profile(tmp_path, tiny_fs, "20s", 32), "--no-live", "--quiet", "--no-preflight"
    )
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0] == (
        "loadtest: results.jsonl: no space left on device; writing stopped, the run drains"
    ) or lines[0].startswith("loadtest: intervals.hlog: no space left on device")
    assert len(lines) <= 2  # and the summary's own line when it found no room either
    (run_dir,) = [d for d in tiny_fs.iterdir() if d.is_dir()]
    rows, _ = _whole_lines(run_dir)
    assert rows > 0
    if (run_dir / "summary.json").exists():
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["run"]["stopped_by"].startswith("disk full")
    else:
        assert "cannot write the summary (No space left on device)" in lines[1]
    assert not (run_dir / ".summary.json.tmp").exists()


def test_a_failed_write_keeps_whole_lines_and_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fault at the file: results.jsonl refuses bytes past 6000; all else is real."""
    real_write = os.write
    written = {"n": 0}

    def write(fd: int, data: bytes | memoryview) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("results.jsonl"):
            room = 6000 - written["n"]
            if room <= 0:
                raise OSError(28, "No space left on device")
            n = real_write(fd, bytes(data[:room]))  # a short write: half a line on disk
            written["n"] += n
            return n
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    out = tmp_path / "reports"
    code = main(["run", str(_profile(tmp_path, out, "20s", 2)), "--no-live", "--quiet"])
    monkeypatch.setattr(os, "write", real_write)
    err = capsys.readouterr().err
    assert code == 3
    assert _one_line(err) == (
        "loadtest: results.jsonl: no space left on device; writing stopped, the run drains"
    )
    (run_dir,) = out.iterdir()
    rows, tags = _whole_lines(run_dir)
    assert rows > 0 and len((run_dir / "results.jsonl").read_bytes()) <= 6000
    assert tags > 0  # the interval log went on to the end
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["stopped_by"] == "disk full (results.jsonl)"
    assert summary["run"]["duration_s"] < 15  # stopped, not run for its 20 s


def test_an_unwritable_store_folder_fails_before_the_load(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "reports"
    r = _loadtest(
        "run", _profile(tmp_path, out), "--no-live", "--quiet", "--store", tmp_path / "afile/h.db"
    )
    assert r.returncode == 3
    assert _one_line(r.stderr).startswith("loadtest: error: --store ")
    assert not out.exists() or not any(out.iterdir())


def test_an_unwritable_schedule_store_folder_is_one_line_before_the_first_fire(
    tmp_path: Path,
) -> None:
    # Where the store goes, the lock goes too (beside it): both are found out at start.
    (tmp_path / "afile").write_text("x")
    p = _profile(tmp_path, tmp_path / "reports")
    r = _loadtest("schedule", p, "--store", tmp_path / "afile/h.db", "--fires", "1")
    assert r.returncode == 3
    assert f"--store {tmp_path}/afile/h.db: cannot write in {tmp_path}/afile" in _one_line(r.stderr)


def test_an_unmakeable_schedule_lock_is_one_line(tmp_path: Path) -> None:
    # The store's folder is writable, but the lock's name is taken by a folder.
    p = _profile(tmp_path, tmp_path / "reports")
    name = load_profile(p).name
    (tmp_path / f".schedule-{name}.lock").mkdir()
    r = _loadtest("schedule", p, "--store", tmp_path / "h.db", "--fires", "1")
    assert r.returncode == 3
    assert "cannot make the schedule's lock" in _one_line(r.stderr)


def test_a_full_store_is_one_line_and_no_half_made_run(tiny_fs: Path, tmp_path: Path) -> None:
    db = tiny_fs / "history.db"
    p = _profile(tmp_path, tmp_path / "reports", "1s", 2)
    r = _loadtest("run", p, "--no-live", "--quiet", "--no-preflight", "--store", db)
    assert r.returncode == 3
    line = _one_line(r.stderr)
    assert "cannot add the run" in line and "database or disk is full" in line
    (run_dir,) = (tmp_path / "reports").iterdir()
    assert str(run_dir) in line and (run_dir / "summary.json").is_file()
    if db.exists():  # every transaction whole: the store is sound, with no half run in it
        with contextlib.closing(sqlite3.connect(db)) as con:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            if "runs" in tables:
                assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)


@pytest.mark.parametrize("tiny_fs", ["4m"], indirect=True)
def test_a_read_only_store_is_listed_and_reported(tiny_fs: Path, tmp_path: Path) -> None:
    db = tiny_fs / "history.db"
    p = _profile(tmp_path, tmp_path / "reports", "1s", 2)
    r = _loadtest("run", p, "--no-live", "--quiet", "--no-preflight", "--store", db)
    assert r.returncode == 0, r.stderr
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    listed = _loadtest("store", "list", "--store", db)
    assert listed.returncode == 0, listed.stderr
    assert "nano (gpt-4o-nano)" in listed.stdout
    since = "2026-11-01T00:00:00+00:00"
    tod = _loadtest("report", "timeofday", "--store", db, "--since", since)
    assert tod.returncode == 3  # its HTML goes beside the store by default: one line
    assert "timeofday.html: cannot write (Read-only file system)" in _one_line(tod.stderr)
    html = tmp_path / "tod.html"
    tod = _loadtest("report", "timeofday", "--store", db, "--since", since, "-o", html)
    assert tod.returncode == 0, tod.stderr
    assert "Traceback" not in tod.stderr and "nano" in html.read_text()
    (run_dir,) = (tmp_path / "reports").iterdir()
    imp = _loadtest("store", "import", run_dir, "--store", db)
    assert imp.returncode == 3
    assert "readonly" in _one_line(imp.stderr)
