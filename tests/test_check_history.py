"""loadtest check on a simulated history, for real: two earlier Fridays of probes at
03:05 (off-peak), 10:05 and 14:05 (US business hours, when gpt-4o-mini is always slow),
then a third Friday scheduled on a time-warped simulator with an incident injected into
gpt-4o-mini's 14:00 hour. The scheduler's check after each probe fires for that hour
and that target only, and a webhook server on 127.0.0.1 receives it."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import orjson
import pytest
from local_http import serving
from rich.console import Console

from loadtest import store
from loadtest.cli import main
from loadtest.profile import load_profile
from loadtest.runner import run
from loadtest.scheduler import Scheduler
from loadtest.sim.process import Simulator

NY = ZoneInfo("America/New_York")
FRI = datetime(2026, 11, 20, tzinfo=NY)
HOURS = (3, 10, 14)
# gpt-4o-mini with a lighter tail than its preset's (the test's probes last as long as
# their slowest request), still twice as slow in business hours
SIM = """
[models."gpt-4o-mini"]
ttft_p95_ms = 700
[models."gpt-4o-mini".diurnal]
peak_ttft = 2.0
peak_tail = 1.0
[[models."gpt-4o-mini".incidents]]
start = "2026-11-20T14:00:00-05:00"
duration = "1h"
ttft = 2.5
"""
# 100 requests a target, all at once: enough that a P95 of one probe against two
# earlier ones is steady (with 40 the same hour came out 2x its usual about once in 30)
PROBE = """
name = "fridays"
requests = 100
duration = "60s"
interval = "60s"
out = "{out}"
[load]
mode = "closed"
concurrency = 100
[workload]
input_tokens = 50
output_tokens = 4
[[targets]]
name = "gpt-4o-mini"
kind = "openai"
model = "gpt-4o-mini"
base_url = "{openai}"
api_key_env = "LOADTEST_CHECK_KEY"
[[targets]]
name = "claude-3-5-haiku"
kind = "anthropic"
model = "claude-3-5-haiku"
base_url = "{anthropic}"
api_key_env = "LOADTEST_CHECK_KEY"
"""


class Hook(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append(orjson.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.got.clear()
    with serving(Hook) as url:
        yield f"{url}/hooks/T0/secret-token"


def _history(tmp: Path, cfg: Path, db: Path) -> None:
    """The two earlier Fridays: one run per hour, each on a simulator of its own whose
    clock starts at that hour (and a seed of its own: fresh samples every week)."""
    for week in (2, 1):
        for hour in HOURS:
            at = FRI - timedelta(weeks=week) + timedelta(hours=hour, minutes=5)
            path = tmp / f"w{week}-{hour}.toml"
            path.write_text(
                PROBE.format(out=tmp / "runs", openai="sim", anthropic="sim")
                + f'[simulator]\nconfig = "{cfg}"\nseed = {week * 100 + hour}\n'
                + f'sim_start = "{at.isoformat()}"\n'
            )
            run_dir, _ = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
            with contextlib.closing(store.connect(db)) as conn:
                store.import_run(conn, run_dir)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_an_injected_bad_hour_alerts_for_that_hour_and_target_only(
    tmp_path: Path, webhook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOADTEST_CHECK_KEY", "sim-key")
    cfg = tmp_path / "sim.toml"
    cfg.write_text(SIM)
    db = tmp_path / "history.db"
    _history(tmp_path, cfg, db)

    # The third Friday, as a prober runs: cron on the warped simulator's clock (an hour a
    # second, from midnight: the first probe's process has its full lead), the check
    # after each probe, its alert POSTed. Saturated probes are kept: 200 streams opened at
    # once can make a busy CI machine's loop wake late enough to mark a probe saturated,
    # and what this test is about is the comparison with the same hour.
    start = FRI.isoformat()
    with Simulator(str(cfg), seed=7, time_warp=3600, sim_start=start) as sim:
        path = tmp_path / "prober.toml"
        path.write_text(
            PROBE.format(out=tmp_path / "runs", openai=sim.openai_base_url, anthropic=sim.base_url)
            + f"""[schedule]
cron = "5 3,10,14 * * *"
tz = "America/New_York"
clock = "simulator"
store = "{db}"
max_running = 4
[schedule.alert]
webhook = "{webhook}"
json = "{tmp_path / "latest-check.json"}"
include_saturated = true
"""
        )
        profile = load_profile(path)
        assert profile.schedule is not None and profile.schedule.alert is not None
        lines: list[str] = []
        sched = Scheduler(
            profile, profile.schedule, until=FRI + timedelta(hours=14, minutes=40), log=lines.append
        )
        counts = asyncio.run(sched.run())
    text = "\n".join(lines)
    assert counts.runs == 3 and counts.failed == 0, text
    # Each probe sent everything at once, too fast to time the warp by: its span in the
    # store is the rate the simulator gave before it (an hour a second), not 1.
    with contextlib.closing(store.connect(db)) as conn:
        spans = conn.execute(
            "SELECT start_utc, end_utc, clock_rate FROM runs WHERE start_utc >= ?",
            (FRI.isoformat(),),
        ).fetchall()
    assert spans and all(rate == 3600.0 for _, _, rate in spans), spans
    assert text.count("check: no alert") == 2, text  # 03:05 and 10:05
    assert counts.alerts >= 1 and f", {counts.alerts} alert" in text, text
    # The webhook got the 14:05 probe's check, and only that; its path (a token) is not
    # in the log.
    assert len(Hook.got) == 1, text
    [posted] = Hook.got
    alerts = posted["alerts"]
    assert {(a["target"], a["hour"]) for a in alerts} == {("gpt-4o-mini", "Fri 14:00")}, alerts
    ttft = next(a for a in alerts if a["metric"] == "ttft")
    assert 1.5 <= ttft["ratio"] <= 5 and ttft["ci95"][0] > 1, ttft
    assert ttft["usual_weeks"] == 2 and ttft["recent_requests"] == 100
    assert "secret-token" not in text and "posted to http://127.0.0.1:" in text
    assert orjson.loads((tmp_path / "latest-check.json").read_bytes()) == posted

    # The command on the same history: 10:00 is slow against off-peak, as it always is,
    # and not an alert; 14:00 is, with a distinct exit code, JSON and the webhook again.
    at10 = tmp_path / "at10.json"
    ten = (FRI + timedelta(hours=10, minutes=59)).isoformat()
    flags = ["--json", str(at10), "--include-saturated"]
    assert main(["check", "--store", str(db), "--at", ten, *flags]) == 0
    found = orjson.loads(at10.read_bytes())
    assert found["alert"] is False
    mini = next(
        f for f in found["findings"] if f["target"] == "gpt-4o-mini" and f["metric"] == "ttft"
    )
    assert mini["hour"] == "Fri 10:00" and mini["verdict"] == "ok"
    assert mini["ratio_off_peak"] > 1.5 and mini["ratio"] < 1.5, mini
    two = (FRI + timedelta(hours=14, minutes=59)).isoformat()
    flags = ["--webhook", webhook, "--json", "-", "--include-saturated"]
    code = main(["check", "--store", str(db), "--at", two, *flags])
    assert code == 5 and len(Hook.got) == 2
    assert {a["target"] for a in Hook.got[1]["alerts"]} == {"gpt-4o-mini"}
