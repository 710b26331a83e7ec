"""`loadtest schedule`: cron fires in a zone, late and busy fires skipped and counted,
the daily budget, one scheduler per profile, SIGTERM finishing the run in flight, and
following a time-warped simulator's clock. Probes are real `loadtest run` processes
against a real simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadtest.config_reader import ConfigError
from loadtest.errors import ExitCode, RuntimeFailure
from loadtest.instants import parse_instant
from loadtest.profile import load_profile
from loadtest.prom_export import Exporter
from loadtest.schedule import (
    Budget,
    ScheduleSpec,
    Usage,
    day_of,
    due_and_missed,
    fires_between,
    next_fire,
    over_budget,
    usage_of,
)
from loadtest.scheduler import ProfileLock, Scheduler, lock_path
from loadtest.schema import TargetSummary
from loadtest.sim.process import Simulator

NY = ZoneInfo("America/New_York")
LOADTEST = [sys.executable, "-m", "loadtest"]


def test_hourly_fires_follow_the_zone_across_a_dst_change() -> None:
    # 2026-03-08: New York skips 02:00-03:00; an hourly cron has 23 fires that day.
    start = datetime(2026, 3, 7, 23, 30, tzinfo=NY)
    fires = fires_between("0 * * * *", NY, start, datetime(2026, 3, 8, 23, 30, tzinfo=NY))
    assert len({f.astimezone(UTC) for f in fires}) == len(fires) == 23
    assert [f.hour for f in fires[:3]] == [0, 1, 3]
    assert next_fire("30 9 * * 1-5", NY, datetime(2026, 11, 20, 15, tzinfo=UTC)) == datetime(
        2026, 11, 23, 9, 30, tzinfo=NY
    )  # Friday 10:00 New York -> Monday 09:30
    start_day, end_day = day_of(datetime(2026, 3, 8, 12, tzinfo=NY), NY)
    assert end_day.astimezone(UTC) - start_day.astimezone(UTC) == timedelta(hours=23)


def test_late_fires_are_skipped_not_piled_up() -> None:
    t = datetime(2026, 11, 16, 9, tzinfo=NY)
    passed = fires_between("0 * * * *", NY, t, t + timedelta(hours=3, minutes=5))
    due, missed = due_and_missed(passed)
    assert due == t + timedelta(hours=3) and missed == passed[:2]
    assert due_and_missed([]) == (None, [])


def test_budget_names_the_cap_that_would_be_passed() -> None:
    b = Budget(requests=1000, tokens=0, cost=2.0)
    assert over_budget(b, Usage(900, 10**9, 0.5), Usage(100, 0, 0.1)) is None
    why = over_budget(b, Usage(950, 0, 0.5), Usage(100, 0, 0.1))
    assert why is not None and "requests" in why and "950 of 1,000" in why
    why = over_budget(b, Usage(0, 0, 1.95), Usage(10, 0, 0.1))
    assert why is not None and "cost" in why and "$1.95 of $2.00" in why
    # Only the keys usage_of reads: a partial block of summary.json.
    block = cast(
        TargetSummary, {"requests": {"sent": 40}, "tokens": {"input": 4000, "output": 1000}}
    )
    u = usage_of(block, (0.15, 0.60))
    assert (u.requests, u.tokens) == (40, 5000) and u.cost == pytest.approx(0.0012)
    assert usage_of(block).cost == 0


def test_schedule_table_is_validated(tmp_path: Path) -> None:
    def profile(schedule: str, prices: str = "") -> Path:
        p = tmp_path / "p.toml"
        p.write_text(
            "[[targets]]\nkind = 'openai'\nmodel = 'my-model'\nbase_url = 'sim'\n"
            f"{prices}\n[schedule]\n{schedule}\n"
        )
        return p

    spec = load_profile(profile("cron = '*/15 9-17 * * 1-5'\ntz = 'Europe/Paris'")).schedule
    assert spec == ScheduleSpec(cron="*/15 9-17 * * 1-5", tz="Europe/Paris")
    for text, where in (
        ("cron = 'every hour'", "schedule.cron"),
        ("tz = 'Mars/Olympus'", "schedule.tz"),
        ("clock = 'sundial'", "schedule.clock"),
        ("max_running = 0", "schedule.max_running"),
        ("budget = {requests = -1}", "schedule.budget.requests"),
        ("every = '1h'", "schedule.every"),
        ("budget = {cost = 5}", "schedule.budget.cost"),
    ):
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            load_profile(profile(text))
    priced = load_profile(profile("budget = {cost = 5}", "input_price = 0.15\noutput_price = 0.6"))
    assert priced.schedule is not None and priced.schedule.budget.cost == 5
    assert priced.targets[0].input_price == 0.15
    listed = profile("budget = {cost = 5}")  # a model of the price table needs no prices
    listed.write_text(listed.read_text().replace("my-model", "gpt-4o-mini"))
    assert load_profile(listed).targets[0].output_price == 0.60


def test_one_scheduler_per_profile(tmp_path: Path) -> None:
    path = tmp_path / ".schedule-p.lock"
    with (
        ProfileLock(path, "p.toml"),
        pytest.raises(RuntimeFailure, match=r"p\.toml: already scheduled by pid \d+"),
        ProfileLock(path, "p.toml"),
    ):
        pass
    with ProfileLock(path, "p.toml"):  # released on exit
        pass


@pytest.fixture(scope="module")
def warped() -> Iterator[Simulator]:
    """A simulator whose clock runs an hour per real second, from Sunday 01:00 New York
    (no business-hours slowdown on Sundays)."""
    with Simulator(seed=2, time_warp=3600, sim_start="2026-11-15T01:00:00-05:00") as sim:
        yield sim


@pytest.fixture(scope="module")
def plain() -> Iterator[Simulator]:
    # Its clock on the real now (not the suite's off-peak pin): a daily budget counts
    # the runs of today, stamped in the simulator's time.
    with Simulator(seed=3, sim_start=datetime.now(UTC).isoformat()) as sim:
        yield sim


def _probe(
    tmp: Path,
    sim: Simulator,
    requests: int,
    rate: float,
    schedule: str = "",
    model: str = "gpt-4o-mini",
) -> Path:
    p = tmp / "probe.toml"
    p.write_text(
        f"""name = "probe"
requests = {requests}
duration = "30s"
interval = "60s"
out = "{tmp / "runs"}"
[load]
mode = "open"
rate = {rate}
[workload]
input_tokens = 50
output_tokens = 4
[[targets]]
name = "mini"
kind = "openai-compatible"
model = "{model}"
base_url = "{sim.openai_base_url}"
{schedule}
"""
    )
    return p


def _stored(db: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        return list(c.execute("SELECT start_utc, status FROM runs ORDER BY start_utc"))


def _scheduled(db: Path) -> list[tuple[str, str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        rows = c.execute("SELECT start_utc, scheduled_utc, status FROM runs ORDER BY start_utc")
        return list(rows)


def test_cron_follows_the_simulated_clock_and_busy_fires_are_skipped(
    tmp_path: Path, warped: Simulator
) -> None:
    # An hour lasts a second; each probe takes about two, so with one run at a time
    # every other hourly fire finds the previous run still going. Its process is started
    # only 0.5 s (half an hour) before its fire.
    profile = load_profile(_probe(tmp_path, warped, requests=6, rate=4))
    spec = ScheduleSpec(clock="simulator", tz="America/New_York", store=str(tmp_path / "h.db"))
    lines: list[str] = []
    sched = Scheduler(profile, spec, until="8h", log=lines.append)
    counts = asyncio.run(sched.run())
    text = "\n".join(lines)
    assert counts.runs >= 2 and counts.missed_busy >= 1, text
    assert counts.runs + counts.missed_busy + counts.failed == counts.fires, text
    assert "simulator clock at 3600x" in text and "still going" in text
    stored = _stored(tmp_path / "h.db")
    assert len(stored) == counts.runs
    for start_utc, scheduled_utc, status in _scheduled(tmp_path / "h.db"):
        # stamped in simulated time: Sunday morning, within the hour after its hourly fire
        # (its process had half an hour to start; a busy CI machine took 56 minutes more)
        t = parse_instant(start_utc).astimezone(NY)
        fired = parse_instant(scheduled_utc).astimezone(NY)
        assert t.date() == datetime(2026, 11, 15).date() and 2 <= t.hour <= 11, stored
        assert fired.minute == 0 and fired.second == 0, stored
        assert timedelta(0) <= t - fired < timedelta(hours=1) and status == "done", stored


def _exported(e: Exporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample E serves, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(generate_latest(e.registry).decode())
        for s in f.samples
    }


def test_daily_budget_skips_fires_that_would_overspend(tmp_path: Path, plain: Simulator) -> None:
    profile = load_profile(_probe(tmp_path, plain, requests=6, rate=50))
    spec = ScheduleSpec(
        cron="* * * * * */4", store=str(tmp_path / "h.db"), budget=Budget(requests=10)
    )
    lines: list[str] = []
    exporter = Exporter()  # schedule --metrics-port: each probe folded in from its files
    sched = Scheduler(profile, spec, max_fires=3, log=lines.append, exporter=exporter)
    counts = asyncio.run(sched.run())
    text = "\n".join(lines)
    assert (counts.runs, counts.skipped_budget) == (1, 2), text
    assert "daily requests budget: 6 of 10 spent, the next run needs about 6" in text
    assert "mini: 6/6 ok, ttft p50" in text  # the headline of the run that ran
    got = _exported(exporter)
    mine: tuple[tuple[str, str], ...] = (("kind", "openai-compatible"), ("model", "gpt-4o-mini"))
    mine += (("profile", "probe"), ("target", "mini"))
    assert got[("loadtest_runs_total", (("outcome", "ok"), ("profile", "probe")))] == 1
    assert got[("loadtest_requests_total", (*mine[:2], ("outcome", "completed"), *mine[2:]))] == 6
    assert got[("loadtest_ttft_seconds_count", mine)] == 6
    assert got[("loadtest_itl_seconds_count", mine)] == 6 * 3  # 4 tokens, 3 gaps each


def test_a_run_whose_every_request_failed_counts_as_failed(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.toml"
    cfg.write_text('[models.f500]\nbase = "gpt-4o-mini"\n[models.f500.faults]\nhttp_500 = 1.0\n')
    db = tmp_path / "h.db"
    with Simulator(cfg, seed=4) as sim:
        profile = load_profile(_probe(tmp_path, sim, requests=4, rate=50, model="f500"))
        spec = ScheduleSpec(cron="* * * * * *", store=str(db))
        lines: list[str] = []
        exporter = Exporter()
        sched = Scheduler(profile, spec, max_fires=1, log=lines.append, exporter=exporter)
        counts = asyncio.run(sched.run())
    text = "\n".join(lines)
    assert (counts.runs, counts.failed) == (0, 1), text
    got = _exported(exporter)
    assert got[("loadtest_runs_total", (("outcome", "error"), ("profile", "probe")))] == 1
    failed = [v for (name, labels), v in got.items() if ("outcome", "failed") in labels]
    errors = [v for (name, labels), v in got.items() if name == "loadtest_errors_total"]
    assert failed == [4] and errors == [4]
    assert (
        "failed (exit 4): loadtest: no request completed: mini: all 4 failed (4 http_5xx)" in text
    )
    assert len(_stored(db)) == 1  # its files and its row are kept all the same


def test_sigterm_lets_the_run_in_flight_finish(tmp_path: Path, plain: Simulator) -> None:
    profile = _probe(tmp_path, plain, requests=12, rate=4)  # about three seconds
    db = tmp_path / "h.db"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.Popen(
        [*LOADTEST, "schedule", str(profile), "--cron", "* * * * * *", "--store", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        # the first fire is within a second; its run is in flight a second later
        time.sleep(2.5)
        second = subprocess.run(
            [*LOADTEST, "schedule", str(profile), "--store", str(db)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == ExitCode.RUNTIME_FAILURE, second.stderr
        assert second.stderr.count("\n") == 1 and "already scheduled by pid" in second.stderr
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "SIGTERM: no new fires" in out and "done in" in out, out
    stored = _stored(db)
    assert len(stored) >= 1 and all(status == "done" for _, status in stored), out
    assert not lock_path(load_profile(profile), str(db)).read_text()  # released


def test_the_scheduling_examples_hold_valid_commands_and_profile(tmp_path: Path) -> None:
    # scripts/schedule-examples: every loadtest command line parses, and the README's
    # example profile loads, [schedule] and prices included.
    import re
    import shlex

    from loadtest.cli.parser import build_parser

    folder = Path(__file__).resolve().parent.parent / "scripts" / "schedule-examples"
    commands = []
    for f in sorted(folder.iterdir()):
        if f.suffix == ".md":
            continue
        for m in re.finditer(r"loadtest ((?:run|schedule|report) [^\n>&|`]*)", f.read_text()):
            commands.append(m.group(1))
    assert len(commands) >= 5
    for c in commands:
        build_parser().parse_args(shlex.split(c))  # SystemExit on a bad flag
    toml = re.search(r"```toml\n(.*?)```", (folder / "README.md").read_text(), re.S)
    assert toml is not None
    (tmp_path / "probe.toml").write_text(toml.group(1))
    p = load_profile(tmp_path / "probe.toml")
    assert p.schedule is not None and p.schedule.budget.cost == 2.0
    assert p.schedule.jitter_s == 120 and p.targets[0].output_price == 0.6


class _JumpingClock:
    """The wall clock's pace from 01:59:59, jumping five hours ahead once it passes 02:00:01:
    a machine suspended for five hours."""

    rate = 1.0

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._start = datetime(2026, 11, 16, 1, 59, 59, tzinfo=UTC)
        self._jump = timedelta(0)

    def now(self) -> datetime:
        t = self._start + timedelta(seconds=time.monotonic() - self._t0) + self._jump
        if not self._jump and t > self._start + timedelta(seconds=2):
            self._jump = timedelta(hours=5) - timedelta(seconds=1)
            return t + self._jump
        return t

    async def sync(self) -> None:
        return None


def test_fires_passed_while_suspended_are_skipped_and_the_newest_runs(
    tmp_path: Path, plain: Simulator
) -> None:
    profile = load_profile(_probe(tmp_path, plain, requests=2, rate=50))
    spec = ScheduleSpec(store=str(tmp_path / "h.db"))
    lines: list[str] = []
    sched = Scheduler(profile, spec, max_fires=2, log=lines.append, clock=_JumpingClock())
    counts = asyncio.run(sched.run())
    text = "\n".join(lines)
    # 02:00 runs; then the clock reads about 07:00: 03:00-06:00 are skipped, 07:00 runs
    assert (counts.runs, counts.missed_late) == (2, 4), text
    assert "run of 02:00 done" in text and "run of 07:00 done" in text
    assert "skipped 4 fire(s) that passed while late" in text
