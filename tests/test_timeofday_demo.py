"""End to end: scripts/demo_timeofday.sh runs a simulated week of hourly probes against
three presets (a real time-warped simulator, real `loadtest schedule` and `run`
processes, the store) and the report must recover what the simulator injected."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loadtest.sim.presets import BUILTIN, Z95, Preset

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "demo_timeofday.sh"
PROBE_INPUT_TOKENS = 100  # profiles/timeofday-demo.toml
NY = ZoneInfo("America/New_York")


def injected_ratio(p: Preset) -> float:
    """TTFT P95 in US business hours over off-peak, as the simulator draws it:
    log-normal median x ttft multiplier, sigma x tail multiplier, plus prefill."""
    assert p.diurnal is not None
    prefill_ms = p.prefill_ms_per_1k_tokens * PROBE_INPUT_TOKENS / 1000
    peak = p.diurnal.conditions(datetime(2026, 11, 18, 12, tzinfo=NY))  # a Wednesday noon
    off = p.diurnal.conditions(datetime(2026, 11, 21, 12, tzinfo=NY))  # a Saturday noon

    def p95(ttft: float, tail: float) -> float:
        return p.ttft_median_ms * ttft * math.exp(Z95 * p.ttft_sigma * tail) + prefill_ms

    return p95(peak.ttft, peak.tail) / p95(off.ttft, off.tail)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_three_simulated_days_recover_the_injected_peak(tmp_path: Path) -> None:
    """The demo's last three days (Friday to Sunday: one weekday, the weekend) in about
    a minute; the whole week (scripts/demo_timeofday.sh, 150 s) gives the README's
    figures. One weekday of hourly probes is noisier than five: the bounds say so."""
    env = dict(os.environ, DAYS="3")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path)], env=env, capture_output=True, text=True, timeout=280
    )
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    days_s = 3 * 86400 / 4032  # the script's default warp
    assert wall < days_s + 60, f"three simulated days took {wall:.0f} s"
    log = proc.stdout
    assert "stopped:" in log and "0 failed" in log, log[-2000:]
    stopped = re.search(r"stopped: .*fires skipped: (\d+) late, (\d+) busy.*", log)
    assert stopped, log[-2000:]
    skipped = int(stopped[1]) + int(stopped[2])

    data = json.loads((tmp_path / "timeofday.json").read_text())
    # A machine too busy for the warp is said, never silent (and then fails below, with
    # the warning in the log to say why).
    assert data["busy_machine"] == ("Warning: the client was saturated" in log), log[-3000:]
    presets = {p.name: p for p in BUILTIN if p.name in data["targets"]}
    assert set(presets) == {"gpt-4o-mini", "gpt-4o-nano", "claude-3-5-haiku"}
    for name, preset in presets.items():
        t = data["targets"][name]
        ttft = t["peak_vs_off_peak"]["ttft"]
        want = injected_ratio(preset)
        # Recovered: within 30% of the injected ratio, or the injected ratio inside the
        # report's own 95% interval. Each alone missed about once in twenty (seven runs of
        # three presets, 2026-12-03: gpt-4o-mini 2.59x-3.63x for an injected 2.78x, every
        # interval holding 2.78; gpt-4o-nano once 1.73x [1.46, 1.83] for 1.40x).
        lo, hi = ttft["ratio_p95_ci95"]
        near = ttft["ratio_p95"] == pytest.approx(want, rel=0.3)
        assert near or lo <= want <= hi, (name, ttft, want)
        assert ttft["ratio_p95"] > 1.1, (name, ttft)  # the peak is there at all
        assert lo < ttft["ratio_p95"] < hi
        # hourly probes: nearly every day-by-hour cell of the three days is accounted for:
        # it holds samples, or its probe was left out (its client saturated) or its fire
        # skipped (the last probe still running), and the report or the scheduler said so.
        # A busy two-core machine leaves out or skips up to a third of them; one shared
        # with other work (a CI runner: 61 of 72 once) more, and then the report says the
        # machine was busy.
        cells = len(t["cells"]["ttft"])
        said = t["probes_left_out"] + skipped
        assert cells + said >= 62, (name, cells, t["probes_left_out"], stopped)
        assert cells >= 36 or data["busy_machine"], (name, cells, t["probes_left_out"])
    # gpt-4o-mini's peak is strong enough to be found hour by hour, and only there
    mini = data["targets"]["gpt-4o-mini"]["slow_hours"]
    assert mini["weekend"] == [] and set(mini["weekdays"]) <= set(range(9, 17)), mini
    assert len(mini["weekdays"]) >= 5, mini
    # The spiky preset ranks last.
    ranked = [r["target"] for r in data["steadiest_first"]]
    assert ranked[-1] == "gpt-4o-mini" and set(ranked) == set(presets)

    page = (tmp_path / "timeofday.html").read_text()
    assert page.count("<table class='heat'>") == 3
    assert "Slow hours (TTFT P95 at 1.5x" in log  # the terminal report was printed
