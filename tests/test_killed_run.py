"""Nothing lost: a killed run (no summary.json) is rebuilt, reported and imported, and
the store keys runs by their id, not their directory's name."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from test_store import _run_dir

from loadtest import hlog, store
from loadtest.cli import main
from loadtest.errors import ErrorClass
from loadtest.metrics import unit_of
from loadtest.rebuild import rebuild_summary
from loadtest.report.run_data import load_run
from loadtest.summary_stats import stats


def test_two_runs_whose_directories_share_a_name_are_both_kept(tmp_path: Path) -> None:
    a = _run_dir(tmp_path / "a", "20261124T140000Z-golden")
    b = tmp_path / "b" / a.name  # the same profile, the same second, another folder
    shutil.copytree(a, b)
    for d in (a, b):
        summary = json.loads((d / "summary.json").read_text())
        summary["run"]["id"] = uuid.uuid4().hex
        (d / "summary.json").write_text(json.dumps(summary))
    db = store.connect(tmp_path / "h.db")
    assert store.import_run(db, a) == 2
    assert store.import_run(db, b) == 2
    assert store.import_run(db, b) == 0  # again: nothing changes
    rows = store.runs(db)
    assert len(rows) == 4 and len({r["run_id"] for r in rows}) == 2
    assert {r["run_key"] for r in rows} == {a.name}


def test_a_version_2_store_keeps_directory_names_as_ids(tmp_path: Path) -> None:
    old = _run_dir(tmp_path, "20261124T140000Z-golden")
    path = tmp_path / "h.db"
    con = sqlite3.connect(path, isolation_level=None)
    for script in store.MIGRATIONS[:2]:
        con.executescript(script)
    con.execute("PRAGMA user_version = 2")
    con.execute(
        "INSERT INTO runs (run_key, target, profile, start_utc, end_utc, duration_s, status,"
        " summary) VALUES (?, 'gpt-4o-mini', 'golden', '2026-11-24T14:00:00.000Z',"
        " '2026-11-24T14:00:30.000Z', 30, 'done', '{}')",
        (old.name,),
    )
    con.execute(
        "INSERT INTO interval_counts VALUES (1, '2026-11-24T14:00:00.000Z', 0, 10, 1, 0, 0,"
        " '{}', '{}')"
    )
    con.close()
    db = store.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(store.MIGRATIONS) == 4
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    (row,) = store.runs(db)
    assert (row["run_id"], row["run_key"], row["intervals"]) == (old.name, old.name, 1)
    # the golden summary has no run.id: the same run imported again is the same row
    assert store.import_run(db, old) == 1  # only its other target is new
    db.execute("DELETE FROM runs")  # the children follow (foreign keys survived the rebuild)
    assert db.execute("SELECT COUNT(*) FROM interval_counts").fetchone()[0] == 0


def _killed_dir(tmp_path: Path) -> Path:
    """A run directory as a kill leaves it: run.json, profile.json, results.jsonl with a
    line cut short, intervals.hlog, no summary.json."""
    d = _run_dir(tmp_path, "20261124T140000Z-golden")
    (d / "summary.json").unlink()
    (d / "run.json").write_text(json.dumps({"id": "abc123"}))
    profile = json.loads((d / "profile.json").read_text())
    profile.update(warmup_s=0.0, load={"mode": "open", "concurrency": 4, "rate": 5.0})
    (d / "profile.json").write_text(json.dumps(profile))
    lines = [
        {"target": "gpt-4o-mini", "intended_ms": 1000.0, "sent_ms": 1000.0, "error": None,
         "measured": True, "input_tokens": 20, "output_tokens": 4, "tokens_counted": False,
         "e2e": 50.0},
        {"target": "gpt-4o-mini", "intended_ms": 2000.0, "sent_ms": 2020.0, "error": "http_5xx",
         "measured": True, "input_tokens": 0, "output_tokens": 0, "tokens_counted": False},
        {"target": "gpt-4o-mini", "intended_ms": 3000.0, "sent_ms": 3000.0, "error": "abandoned",
         "measured": True, "input_tokens": 0, "output_tokens": 0, "tokens_counted": False},
        {"target": "gpt-4o-mini", "intended_ms": 3100.0, "sent_ms": None, "error": "shed",
         "measured": True, "input_tokens": 0, "output_tokens": 0, "tokens_counted": False},
        {"target": "claude-3-5-haiku", "intended_ms": 3200.0, "sent_ms": None,
         "error": "unsent", "measured": True, "input_tokens": 0, "output_tokens": 0,
         "tokens_counted": False},
    ]  # fmt: skip
    raw = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    (d / "results.jsonl").write_bytes(raw + b'{"target": "gpt-4o-mini", "inten')
    with (d / "intervals.hlog").open("a") as f:
        f.write("Tag=gpt-4o-mini/ttft,30.000,10.000,1.0,HISTFAAAA")  # cut short too
    return d


def test_a_killed_run_is_rebuilt_counted_and_marked_incomplete(tmp_path: Path) -> None:
    d = _killed_dir(tmp_path)
    s = rebuild_summary(d)
    assert s["run"]["stopped_by"] == "incomplete" and s["run"].get("incomplete") is True
    assert s["run"].get("id") == "abc123"
    assert s["run"]["start_utc"] == "2025-11-24T14:00:00.000Z"  # the log's StartTime
    mini = s["targets"]["gpt-4o-mini"]
    assert mini["requests"] == {
        **{"sent": 3, "warmup": 0, "recorded": 2, "completed": 1, "failed": 1},
        **{"abandoned": 1, "late": 1, "shed": 1, "unsent": 0},
    }
    assert mini["errors"] == {"http_5xx": 1} and mini["tokens"]["input"] == 20
    assert mini["load"] == {"mode": "open", "concurrency": 4, "rate": 5.0}
    assert s["targets"]["claude-3-5-haiku"]["requests"]["unsent"] == 1
    # percentiles from the log's histograms: 3 intervals of 10 requests, cut line skipped
    ttft = mini["metrics"]["ttft"]
    assert ttft["count"] == 30
    total = HdrHistogram.decode(
        next(
            e
            for t, _, _, _, e in (
                hlog.parse_line(x)
                for x in (d / "intervals.hlog").read_text().splitlines()
                if x.startswith("Tag=gpt-4o-mini/ttft,0.000")
            )
        )
    )
    assert ttft["p50"] == stats(total, unit_of("ttft")[1], "ms")["p50"]
    assert [row["completed"] for row in mini.get("intervals", [])] == [1, 0, 0]


def test_a_killed_run_is_reported_and_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _killed_dir(tmp_path)
    run = load_run(d)
    assert run.summary["run"]["stopped_by"] == "incomplete" and len(run.intervals) == 3
    assert main(["report", str(d), "--format", "md"]) == 0
    db = tmp_path / "h.db"
    assert main(["store", "import", str(d), "--store", str(db)]) == 0
    rows = store.runs(store.connect(db))
    assert {(r["run_id"], r["status"]) for r in rows} == {("abc123", "incomplete")}


@pytest.mark.slow
def test_kill_9_a_real_run_then_report_and_import_it(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        f'name = "k"\nduration = "60s"\ninterval = "1s"\nout = "{tmp_path / "reports"}"\n'
        '[load]\nmode = "open"\nrate = 20\n[workload]\ninput_tokens = 20\noutput_tokens = 4\n'
        '[[targets]]\nname = "m"\nkind = "openai"\nmodel = "gpt-4o-nano"\nbase_url = "sim"\n'
        "[simulator]\nseed = 1\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path), "--quiet", "--no-live"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the simulator too: the whole group is killed
    )
    try:
        deadline = time.monotonic() + 40
        log = None
        while time.monotonic() < deadline:  # until three intervals are in the log
            logs = list((tmp_path / "reports").glob("*/intervals.hlog"))
            if logs and logs[0].read_text().count("Tag=m/ttft,") >= 3:
                log = logs[0]
                break
            time.sleep(0.2)
        assert log is not None, "no intervals written"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    d = log.parent
    assert not (d / "summary.json").exists() and (d / "run.json").is_file()
    lines = [json.loads(x) for x in (d / "results.jsonl").read_bytes().splitlines() if x]
    run = load_run(d)
    s = run.summary
    m = s["targets"]["m"]
    assert s["run"]["stopped_by"] == "incomplete" and s["run"].get("incomplete") is True
    assert s["run"].get("id") == json.loads((d / "run.json").read_text())["id"]
    q = m["requests"]
    assert q["sent"] == sum(x["sent_ms"] is not None for x in lines) > 0
    assert q["completed"] == sum(x["error"] is None and x["measured"] for x in lines)
    assert q["failed"] == sum(
        x["error"] not in (None, ErrorClass.ABANDONED, ErrorClass.SHED, ErrorClass.UNSENT)
        for x in lines
    )
    assert q["sent"] == q["warmup"] + q["completed"] + q["failed"] + q["abandoned"]
    total = run.totals["m"]["ttft"]
    assert m["metrics"]["ttft"]["count"] == total.get_total_count() > 0
    assert m["metrics"]["ttft"]["p99"] == stats(total, unit_of("ttft")[1], "ms")["p99"]
    out = tmp_path / "r.md"
    assert main(["report", str(d), "--format", "md", "--output", str(out)]) == 0
    assert "stopped by incomplete" in out.read_text()
    db = tmp_path / "h.db"
    assert main(["store", "import", str(d), "--store", str(db)]) == 0
    assert main(["store", "import", str(d), "--store", str(db)]) == 0  # again: nothing
    (row,) = store.runs(store.connect(db))
    assert row["status"] == "incomplete" and row["intervals"] >= 3


@pytest.mark.parametrize("records", ["all", "errors", "none"])
def test_fewer_records_still_add_up_and_a_killed_run_still_rebuilds(
    tmp_path: Path, records: str
) -> None:
    # A real run against the simulator with one request in five failing, warm-up
    # included; its summary against what results.jsonl alone says (the rebuild).
    (tmp_path / "sim.toml").write_text(
        '[models."fast"]\nbase = "gpt-4o-mini"\nttft_median_ms = 20\nttft_p95_ms = 30\n'
        "tokens_per_s = 2000\n"
        '[models."fast".faults]\nhttp_500 = 0.2\n'
    )
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "3s"\nwarmup = "1s"\ninterval = "1s"\n'
        f'records = "{records}"\n[load]\nconcurrency = 2\n'
        "[workload]\ninput_tokens = 20\noutput_tokens = 8\n"
        '[[targets]]\nname = "t"\nkind = "openai"\nmodel = "fast"\nbase_url = "sim"\n'
        f'[simulator]\nseed = 5\nconfig = "{tmp_path / "sim.toml"}"\n'
    )
    assert main(["run", str(path), "--no-live", "--no-preflight", "--quiet"]) == 0
    d = next((tmp_path / "reports").iterdir())
    summary = json.loads((d / "summary.json").read_text())["targets"]["t"]
    lines = [json.loads(x) for x in (d / "results.jsonl").read_text().splitlines()]
    per_request = [x for x in lines if "skipped" not in x]
    failed = summary["requests"]["failed"]
    assert failed > 0 and summary["requests"]["warmup"] > 0
    if records == "all":
        assert len(per_request) == summary["requests"]["sent"] and len(per_request) == len(lines)
    elif records == "errors":
        assert per_request and all(x["error"] for x in per_request)
        assert len([x for x in per_request if x["measured"]]) == failed
    else:
        assert per_request == [] and lines
    (d / "summary.json").unlink()  # as if the run had been killed at its very end
    rebuilt = rebuild_summary(d)["targets"]["t"]
    assert rebuilt["requests"] == summary["requests"]
    assert rebuilt["errors"] == summary["errors"] == {"http_5xx": failed}
    assert rebuilt["tokens"] == summary["tokens"]
    by_interval = [(r["completed"], r["failed"]) for r in rebuilt.get("intervals", [])]
    assert sum(c for c, _ in by_interval) == summary["requests"]["completed"]
    assert sum(f for _, f in by_interval) == failed
