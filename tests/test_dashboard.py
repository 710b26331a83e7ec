"""The live dashboard's state and renderables, drawn on a captured console."""

from __future__ import annotations

from array import array

import pytest
from rich.console import Console

from loadtest.dashboard import DashboardState, Snapshot, headroom, plain_lines, render, sparkline
from loadtest.errors import ErrorClass
from loadtest.recorder import Recorder
from loadtest.records import Health, Interval, RequestRecord, TargetStatus

MS = 1_000_000


def _runs() -> dict[str, TargetStatus]:
    return {
        "fast": TargetStatus("fast", "closed", 4, sent=40, in_flight=4),
        "slow": TargetStatus("slow", "open", 5.0, late=3),
    }


def _interval(rec: Recorder, start_ms: int, ttft_ms: dict[str, int], n: int = 20) -> Interval:
    for target, ttft in ttft_ms.items():
        for i in range(n):
            first = (start_ms + ttft + i) * MS
            t = array("q", [first + k * 10 * MS for k in range(5)])
            err = ErrorClass.HTTP_429 if target == "slow" and i == 0 else None
            rec.record(
                RequestRecord(
                    target,
                    0,
                    start_ms * MS,
                    first,
                    first,
                    first,
                    t[-1],
                    t[-1],
                    t,
                    5,
                    error=err,
                    ratelimit={
                        "x-ratelimit-remaining-requests": "12",
                        "x-ratelimit-limit-requests": "500",
                    },
                )
            )
    return rec.roll((start_ms + 1000) * MS)


def test_state_keeps_run_so_far_history_and_errors() -> None:
    runs = _runs()
    rec = Recorder(runs, 60_000_000, 0)
    state = DashboardState("demo", 10.0)
    state.update(_interval(rec, 0, {"fast": 100, "slow": 400}), Health(), runs, 1.0)
    snap = state.update(_interval(rec, 1000, {"fast": 300, "slow": 400}), Health(), runs, 2.0)
    fast, slow = snap.targets
    assert fast.last["ttft"][0] == pytest.approx(310, abs=2)  # the last interval only
    assert fast.run["ttft"][0] < fast.last["ttft"][0]  # the run so far includes the 100 ms one
    assert len(fast.ttft_p95_history) == 2 and fast.ttft_p95_history[1] > fast.ttft_p95_history[0]
    assert slow.errors == (("http_429", 2),) and slow.late == 3
    assert fast.offered == "4 streams" and slow.offered == "5 req/s"
    assert fast.achieved_rps == 20.0 and fast.in_flight == 4 and fast.sent == 40
    assert fast.headroom == "req 12/500"


def test_a_drain_interval_of_a_few_ms_shows_its_rates_with_the_one_before() -> None:
    runs = _runs()
    rec = Recorder(runs, 60_000_000, 0)
    state = DashboardState("demo", 2.0)
    state.update(_interval(rec, 0, {"fast": 100, "slow": 400}), Health(), runs, 1.0)
    state.update(rec.roll(2000 * MS), Health(), runs, 2.0)  # [1 s, 2 s): none completed
    # 4 requests finish in the 6 ms after the last boundary: 667 req/s on their own
    for i in range(4):
        first = (2000 + i) * MS
        t = array("q", [first])
        rec.record(RequestRecord("fast", 0, 1900 * MS, first, first, first, first, first, t, 1))
    snap = state.update(rec.roll(2006 * MS), Health(), runs, 2.006)
    fast = next(v for v in snap.targets if v.name == "fast")
    assert fast.achieved_rps == pytest.approx(4 / 1.006, rel=0.01)  # with [1 s, 2 s)'s 0


def _draw(snap: Snapshot, width: int, height: int = 200) -> str:
    console = Console(record=True, width=width, force_terminal=True, color_system=None)
    console.print(render(snap, width, height))
    return console.export_text()


def test_three_targets_at_80x24_are_all_in_view_and_wide_panels_use_the_width() -> None:
    names = ("gpt-4o-mini", "gpt-4o-nano", "claude-3-5-haiku")
    runs = {n: TargetStatus(n, "closed", 8, sent=40, in_flight=8) for n in names}
    rec = Recorder(runs, 60_000_000, 0)
    snap = DashboardState("quickstart", 30.0).update(
        _interval(rec, 0, dict.fromkeys(names, 300)), Health(), runs, 5.0
    )
    small = _draw(snap, 80, 23)  # a 24-line terminal, less the line the cursor takes
    lines = small.rstrip().splitlines()
    assert len(lines) <= 23 and all(len(x) <= 80 for x in lines)
    assert lines[0].startswith("quickstart") and "5/30s" in lines[0]
    for n in names:  # each target on a line of its own, its numbers whole
        row = next(x for x in lines if x.startswith(n))
        assert "8 streams" in row and "…" not in row
    wide = _draw(snap, 200, 50)
    row = next(x for x in wide.splitlines() if "gpt-4o-mini" in x)
    assert "gpt-4o-nano" in row and "claude-3-5-haiku" in row  # side by side
    assert wide.count("╭") == 3 and max(len(x.rstrip()) for x in wide.splitlines()) > 190


def test_panels_side_by_side_when_wide_stacked_when_narrow() -> None:
    runs = _runs()
    rec = Recorder(runs, 60_000_000, 0)
    state = DashboardState("demo", 10.0)
    snap = state.update(
        _interval(rec, 0, {"fast": 100, "slow": 400}),
        Health(loop_lag_p99_ms=25.0, cpu_percent=97.0),
        runs,
        5.0,
    )
    wide = _draw(snap, 120)
    line = next(x for x in wide.splitlines() if "fast" in x)
    assert "slow" in line  # both panel titles on one row
    head, warning = wide.splitlines()[:2]
    assert head.startswith("demo") and "5/10s" in head  # title and progress stay in view
    assert warning.startswith("CLIENT CPU-BOUND: latencies include its own delay")
    assert "TTFT" in wide and "ITL" in wide and "E2E" in wide and "http_429 1" in wide
    assert "limits req 12/500" in wide
    narrow = _draw(snap, 60)
    assert not any("fast" in x and "slow" in x for x in narrow.splitlines())
    lines = plain_lines(snap)
    assert lines[0].startswith("demo  5/10s") and "CLIENT CPU-BOUND" in lines[0]
    assert lines[1].startswith("  fast: sent") and "ttft p50/95/99" in lines[1]
    # Of several worker processes, the saturated one is named.
    worker = state.update(
        _interval(rec, 1, {"fast": 100}), Health(cpu_percent=97.0, worker=1), runs, 6.0
    )
    assert "CLIENT CPU-BOUND (WORKER 1): latencies include" in _draw(worker, 120)
    assert "CLIENT CPU-BOUND (WORKER 1)" in plain_lines(worker)[0]


def test_sparkline_and_headroom() -> None:
    assert sparkline([1, 2, 4, 8], 10) == "▂▃▅█"
    assert sparkline([0, 0], 10) == "▁▁" and sparkline([], 5) == ""
    assert len(sparkline(list(range(100)), 20)) == 20
    anthropic = {
        "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-tokens-remaining": "399000",
        "anthropic-ratelimit-tokens-limit": "400000",
        "retry-after": "3",
    }
    assert headroom(anthropic) == "req 3999/4000 tok 399k/400k retry-after 3s"
    assert headroom({"x-ratelimit-remaining-tokens": "150000000"}) == "tok 150M/?"


def test_a_scraped_servers_line_shows_in_its_targets_panel_and_log_line() -> None:
    runs = _runs()
    rec = Recorder(runs, 60_000_000, 0)
    server = {"fast": "TTFT ~35/75 mean 35 | run 3 wait 1 KV 25%"}
    snap = DashboardState("demo", 10.0).update(
        _interval(rec, 0, {"fast": 100, "slow": 400}), Health(), runs, 1.0, True, server
    )
    fast, slow = snap.targets
    assert fast.server == server["fast"] and slow.server == ""
    drawn = _draw(snap, 160)
    assert "server TTFT ~35/75 mean 35 " in drawn
    assert "       run 3 wait 1 KV 25%" in drawn  # on a line of its own
    assert drawn.count("server ") == 1
    lines = plain_lines(snap)
    assert "server TTFT ~35/75" in lines[1] and "server" not in lines[2]
