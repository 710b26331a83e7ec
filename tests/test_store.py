"""The run history: imports, idempotence, concurrent writers, a writer that dies
mid-import, and schema versions."""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import sqlite3
import subprocess
import sys
from array import array
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from loadtest import hlog, store
from loadtest.cli import main
from loadtest.errors import ExitCode, RuntimeFailure
from loadtest.recorder import Recorder
from loadtest.records import RequestRecord

GOLDEN = Path(__file__).parent / "golden" / "summary.json"
MS = 1_000_000


def _run_dir(base: Path, name: str) -> Path:
    """A saved run: the golden summary, a profile, and a real interval log."""
    d = base / name
    d.mkdir(parents=True)
    summary = json.loads(GOLDEN.read_text())
    (d / "summary.json").write_text(json.dumps(summary))
    targets = [
        {"name": t, "kind": "openai", "model": t, "base_url": "sim"} for t in summary["targets"]
    ]
    (d / "profile.json").write_text(json.dumps({"name": "golden", "targets": targets}))
    rec = Recorder(summary["targets"], 60_000_000, 0)
    with (d / "intervals.hlog").open("w") as f:
        f.write(hlog.header(1_763_992_800.0))
        for k in range(3):
            for target in summary["targets"]:
                for i in range(10):
                    first = (k * 10_000 + 200 + i) * MS
                    t = array("q", [first, first + 10 * MS])
                    rec.record(
                        RequestRecord(
                            target, 0, k * 10_000 * MS, first, first, first, t[-1], t[-1], t, 2
                        )
                    )
            f.writelines(hlog.lines(rec.roll((k + 1) * 10_000 * MS), 0))
    return d


def test_import_stores_runs_intervals_and_histograms(tmp_path: Path) -> None:
    d = _run_dir(tmp_path, "20261124T140000Z-golden")
    db = store.connect(tmp_path / "h.db")
    assert store.import_run(db, d) == 2
    assert store.import_run(db, d) == 0  # again: nothing changes
    rows = store.runs(db)
    assert [(r["target"], r["intervals"]) for r in rows] == [
        ("gpt-4o-mini", 3),
        ("claude-3-5-haiku", 3),
    ]
    (start, h429), *_ = db.execute(
        "SELECT c.start_utc, c.http_429 FROM interval_counts c JOIN runs r ON r.id = c.run_id"
        " WHERE r.target = 'gpt-4o-mini' AND c.start_s = 10"
    ).fetchall()
    assert start == "2026-11-24T14:00:10.000Z" and h429 == 7
    (blob,) = db.execute(
        "SELECT histogram FROM interval_histograms h JOIN runs r ON r.id = h.run_id"
        " WHERE r.target = 'claude-3-5-haiku' AND h.metric = 'ttft' AND h.start_s = 20"
    ).fetchone()
    assert HdrHistogram.decode(blob).get_total_count() == 10
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _import_all(db_path: str, dirs: list[str]) -> None:
    db = store.connect(db_path)
    for d in dirs:
        store.import_run(db, d)
    db.close()


@pytest.mark.slow
def test_concurrent_writers_leave_every_run_once(tmp_path: Path) -> None:
    first = _run_dir(tmp_path, "20261124T140000Z-golden")
    dirs = [str(first)]
    for i in range(1, 12):
        copy = tmp_path / f"20261124T14{i:02d}00Z-golden"
        shutil.copytree(first, copy)
        dirs.append(str(copy))
    db_path = str(tmp_path / "h.db")
    # four writers, overlapping: every run is imported by two of them
    jobs = [dirs[0:6], dirs[3:9], dirs[6:12], dirs[0:3] + dirs[9:12]]
    procs = [mp.get_context("spawn").Process(target=_import_all, args=(db_path, j)) for j in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    db = store.connect(db_path)
    assert len(store.runs(db)) == 24
    assert db.execute("SELECT COUNT(*) FROM interval_counts").fetchone()[0] == 24 * 3
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_writer_killed_mid_import_leaves_nothing_behind(tmp_path: Path) -> None:
    d = _run_dir(tmp_path, "20261124T140000Z-golden")
    db_path = tmp_path / "h.db"
    store.connect(db_path).close()
    # Inside import_run's transaction, after the first run row: the process dies.
    code = (
        "import os, sys; from loadtest import store\n"
        "db = store.connect(sys.argv[1])\n"
        "real = db.executemany\n"
        "class Dying:\n"
        "    def __getattr__(self, name): return getattr(db, name)\n"
        "    def executemany(self, *a): real(*a); os._exit(9)\n"
        "store.import_run(Dying(), sys.argv[2])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(db_path), str(d)], timeout=60)
    assert proc.returncode == 9
    db = store.connect(db_path)
    assert (
        store.runs(db) == []
        and db.execute("SELECT COUNT(*) FROM interval_histograms").fetchone()[0] == 0
    )
    assert store.import_run(db, d) == 2  # and the store still works


def test_schema_versions_and_foreign_files(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version = {len(store.MIGRATIONS) + 1}")
    con.close()
    with pytest.raises(RuntimeFailure, match="newer than this loadtest"):
        store.connect(newer)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RuntimeFailure, match=r"junk\.db: not a loadtest store"):
        store.connect(junk)
    fresh = store.connect(tmp_path / "sub" / "fresh.db")
    assert fresh.execute("PRAGMA user_version").fetchone()[0] == len(store.MIGRATIONS)


def test_a_corrupt_store_is_a_runtime_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert main(["store", "list", "--store", str(junk)]) == ExitCode.RUNTIME_FAILURE.value == 3
    err = capsys.readouterr().err
    assert err.startswith("loadtest: error: ") and err.count("\n") == 1
    assert "junk.db: not a loadtest store" in err


def test_store_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _run_dir(tmp_path, "20261124T140000Z-golden")
    db = str(tmp_path / "h.db")
    assert main(["store", "import", str(d), "--store", db]) == 0
    assert main(["store", "import", str(d), "--store", db]) == 0
    out = capsys.readouterr().out
    assert "2 targets added" in out and "already stored" in out
    assert main(["store", "list", "--store", db]) == 0
    assert "gpt-4o-mini (gpt-4o-mini)  3 intervals" in capsys.readouterr().out
    assert main(["store", "import", str(tmp_path / "nope"), "--store", db]) == 2
    assert "not a complete run directory" in capsys.readouterr().err


def test_timeofday_report_reads_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _run_dir(tmp_path, "20261124T140000Z-golden")
    db = str(tmp_path / "h.db")
    assert main(["store", "import", str(d), "--store", db]) == 0
    out = tmp_path / "tod.json"
    args = ["report", "timeofday", "--store", db, "--since", "2026-11-01T00:00:00+00:00"]
    # The golden run's client was saturated in one interval: left out unless asked.
    assert main([*args, "--format", "json", "-o", str(out)]) == 0
    left = json.loads(out.read_text())["targets"]["gpt-4o-mini"]
    assert (left["probes"], left["probes_left_out"], left["cells"]) == (0, 1, {})
    args.append("--include-saturated")
    assert main([*args, "--format", "json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    # 14:00 UTC on a Tuesday is 09:00 in New York: inside the default peak window
    cells = data["targets"]["gpt-4o-mini"]["cells"]["ttft"]
    assert list(cells) == ["Tue 09"] and cells["Tue 09"]["count"] == 30
    assert data["targets"]["gpt-4o-mini"]["peak_vs_off_peak"]["ttft"]["peak_intervals"] == 3
    page = tmp_path / "tod.html"
    assert main([*args, "--format", "html", "-o", str(page)]) == 0
    assert "<table class='heat'>" in page.read_text()
    assert main([*args, "--tz", "Mars/Olympus"]) == 2
    assert "--tz: expected a zone" in capsys.readouterr().err
    assert main([*args[:-3], "--since", "2026-12-01T00:00:00+00:00", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["targets"] == {}


def test_a_version_1_store_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    for statement in store.MIGRATIONS[0].split(";"):
        if statement.strip():
            con.execute(statement)
    for key, health in (("r", "{}"), ("s", '{"saturated_intervals": 2}')):
        con.execute(
            "INSERT INTO runs (run_key, target, profile, start_utc, end_utc, duration_s,"
            " status, client_health, summary) VALUES (?, 't', 'p', '2026-11-01T00:00:00.000Z',"
            " '2026-11-01T00:01:00.000Z', 60, 'duration', ?, '{}')",
            (key, health),
        )
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    db = store.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(store.MIGRATIONS) == 4
    rows = "SELECT run_id, run_key, clock, clock_rate, client_saturated FROM runs ORDER BY id"
    assert db.execute(rows).fetchall() == [
        ("r", "r", "wall", 1.0, 0),  # stored before run ids: the directory's name is its id
        ("s", "s", "wall", 1.0, 1),  # its client was saturated: marked from its health
    ]


@pytest.mark.slow
def test_runs_against_a_time_warped_simulator_are_stamped_in_its_time(tmp_path: Path) -> None:
    from rich.console import Console

    from loadtest.profile import load_profile
    from loadtest.runner import run

    prof = tmp_path / "p.toml"
    prof.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "4s"\ninterval = "1s"\n'
        "[load]\nconcurrency = 4\n[workload]\ninput_tokens = 20\noutput_tokens = 8\n"
        '[[targets]]\nname = "nano"\nkind = "openai"\nmodel = "gpt-4o-nano"\nbase_url = "sim"\n'
        '[simulator]\ntime_warp = 3600\nsim_start = "2026-11-23T09:00:00-05:00"\n'
    )
    run_dir, summary = run(load_profile(prof), Console(quiet=True), live=False, quiet=True)
    clock = summary["run"]["sim_clock"]
    assert clock is not None
    assert clock["rate"] == pytest.approx(3600, rel=0.05)  # one simulated hour a second
    # 09:00 in New York when the simulator started; its start-up takes some real time,
    # and each real second is a simulated hour
    assert "2026-11-23T14:00" <= clock["start_utc"] < "2026-11-23T16:00"
    db = store.connect(tmp_path / "h.db")
    store.import_run(db, run_dir)
    starts = [s for (s,) in db.execute("SELECT start_utc FROM interval_counts ORDER BY start_s")]
    hours = [int(s[11:13]) for s in starts]
    first = int(clock["start_utc"][11:13])
    assert hours[:4] == [first, first + 1, first + 2, first + 3]  # a real second, an hour
    assert db.execute("SELECT clock FROM runs").fetchone()[0] == "simulator"


def test_a_burst_too_short_to_time_the_simulator_takes_the_rate_it_said() -> None:
    from loadtest.summary import sim_clock

    # Every request of a probe sent at once: the readings 3 ms apart time nothing.
    marks = [(0, "2026-11-20T19:05:00.000Z"), (3_000_000, "2026-11-20T19:05:10.800Z")]
    assert sim_clock(marks, 0) == {"start_utc": "2026-11-20T19:05:00.000Z", "rate": 1.0}
    assert sim_clock(marks, 0, 3600.0) == {"start_utc": "2026-11-20T19:05:00.000Z", "rate": 3600.0}
    # Readings a second or more apart are the measure, whatever was said.
    apart = [(0, "2026-11-20T19:05:00.000Z"), (2_000_000_000, "2026-11-20T21:05:00.000Z")]
    assert sim_clock(apart, 0, 60.0) == {"start_utc": "2026-11-20T19:05:00.000Z", "rate": 3600.0}
