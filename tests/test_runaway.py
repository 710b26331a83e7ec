"""Values that are allowed but huge keep the engine in control: a billion streams or
requests per second neither build up memory nor outlast the duration or Ctrl-C.

End to end against the simulator, in a child process whose open-file limit is low
(so the cut to what it can hold open shows at a small size, and quickly)."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest import capacity
from loadtest.loadspec import Load, Step
from loadtest.profile import Profile, Target

OPEN_FILES = 700  # the child's limit: RESERVE for files, the rest for streams


def _profile(*loads: Load) -> Profile:
    targets = tuple(
        Target(f"t{i}", "openai", "m", "sim", "", load=load) for i, load in enumerate(loads)
    )
    return Profile("p", "p.toml", targets)


@pytest.mark.parametrize(
    ("loads", "expected"),
    [
        ((Load(concurrency=10),), [10]),  # fits: unchanged
        ((Load(concurrency=10**9),), [444]),
        ((Load(concurrency=10**9), Load(concurrency=10**9)), [222, 222]),
        ((Load(concurrency=10**9), Load(concurrency=4)), [440, 4]),  # a small one keeps its own
        ((Load(mode="open", rate=1e9, max_in_flight=10**6),), [444]),
        ((Load(steps=(Step(1.0, concurrency=5), Step(1.0, concurrency=10**6))),), [444]),
    ],
)
def test_a_load_is_cut_to_what_the_process_can_hold_open(
    loads: tuple[Load, ...], expected: list[int]
) -> None:
    p = _profile(*loads)
    fitted, lines = capacity.fit(p, OPEN_FILES)
    got = [capacity.streams(fitted.load_of(t)) for t in fitted.targets]
    assert got == expected
    assert sum(got) <= OPEN_FILES - capacity.RESERVE
    assert len(lines) == sum(1 for t in p.targets if capacity.streams(p.load_of(t)) > 10)
    assert all("more than this process can hold open (700 files)" in x for x in lines)
    if not lines:
        assert fitted is p


def test_the_open_file_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert capacity.raise_open_files() == min(hard, capacity.MAX_OPEN)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _low_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


def _start(tmp_path: Path, load: str, duration: str) -> subprocess.Popen[str]:
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "{duration}"\ninterval = "1s"\n'
        f"{load}\n[workload]\ninput_tokens = 20\noutput_tokens = 8\n"
        '[[targets]]\nname = "t"\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "sim"\n'
        "[simulator]\nseed = 3\n"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", str(path), "--no-live", "--no-preflight"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_low_limit,
    )


def _child_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


LOADS = [
    pytest.param("[load]\nconcurrency = 1000000000", "concurrency", id="concurrency"),
    pytest.param(
        '[load]\nmode = "open"\nrate = 1e9\nmax_in_flight = 1000000000', "max_in_flight", id="rate"
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("load", "key"), LOADS)
def test_a_huge_load_runs_for_its_duration_in_bounded_memory(
    tmp_path: Path, load: str, key: str
) -> None:
    t0 = time.monotonic()
    proc = _start(tmp_path, load, "4s")
    out, _ = proc.communicate(timeout=90)
    took = time.monotonic() - t0
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert f"t: {key} 1,000,000,000 is more than this process can hold open" in out
    run_dir = next((tmp_path / "reports").iterdir())
    recorded = json.loads((run_dir / "profile.json").read_text())["targets"][0]["load"]
    assert recorded[key] == OPEN_FILES - capacity.RESERVE  # what ran, not what was asked
    summary = json.loads((run_dir / "summary.json").read_text())
    req = summary["targets"]["t"]["requests"]
    assert req["completed"] > 0
    assert req["sent"] == req["warmup"] + req["completed"] + req["failed"] + req["abandoned"]
    # The duration, the drain of what was in flight (each request well under 1 s at
    # this size), the simulator's start and the report.
    assert took < 4 + 15, out
    assert _child_peak_rss_mb() < 400  # the largest child so far: this run or its peers


@pytest.mark.slow
@pytest.mark.parametrize(("load", "key"), LOADS)
def test_ctrl_c_stops_a_huge_load_within_seconds(tmp_path: Path, load: str, key: str) -> None:
    proc = _start(tmp_path, load, "60s")
    assert proc.stdout is not None
    for line in proc.stdout:  # the load has begun once the simulator is up
        if "built-in simulator at" in line:
            break
    time.sleep(3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    # New requests stop at once; in-flight ones finish (well under a second each here).
    assert took < 5, out
    run_dir = next((tmp_path / "reports").iterdir())
    assert json.loads((run_dir / "summary.json").read_text())["run"]["stopped_by"] == "interrupted"
