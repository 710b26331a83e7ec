"""How far a time-of-day report can be trusted: probes whose client was saturated are
left out by default (counted, and kept on request), cells with too few samples or more
probes than were fired for their hour say so, and a busy machine is warned of."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loadtest.probes import MIN_CELL_SAMPLES, Probe, judge
from loadtest.report import timeofday_md
from loadtest.report.timeofday_text import busy_text
from loadtest.timeofday import Options, TargetReport

NY = ZoneInfo("America/New_York")
MON = datetime(2026, 11, 16, tzinfo=NY)


def _hourly(
    target: str,
    hours: int,
    saturated: frozenset[int] | set[int] = frozenset(),
    late: frozenset[int] | set[int] = frozenset(),
) -> list[Probe]:
    """Hourly fires from Monday 00:00; a LATE one starts 70 minutes after its fire."""
    out = []
    for h in range(hours):
        fire = MON + timedelta(hours=h)
        start = fire + timedelta(minutes=70 if h in late else 1)
        out.append(Probe(target, start, fire, h in saturated))
    return out


def test_saturated_probes_are_left_out_and_counted() -> None:
    probes = _hourly("a", 24, saturated={3, 4})
    trust = judge(probes, {})["a"]
    assert (trust.probes, trust.left_out) == (22, 2) and not trust.busy()
    assert "Left out 2 of 24 probes whose client was saturated" in trust.notes()[0]
    kept = judge(probes, {}, include_saturated=True)["a"]
    assert (kept.probes, kept.left_out, kept.notes()) == (24, 0, [])


def test_a_late_probe_crowds_the_next_hour_and_thin_cells_are_named() -> None:
    # The 02:00 fire started at 03:10: the 03:00 cell holds two probes for one fire.
    samples = {"a": {(0, h): 40.0 for h in range(6)} | {(0, 5): MIN_CELL_SAMPLES - 1.0}}
    trust = judge(_hourly("a", 6, late={2}), samples)["a"]
    assert trust.crowded == [(0, 3)] and trust.few == [(0, 5)]
    notes = " ".join(trust.notes())
    assert "1 cells hold more probes than were fired for their hour" in notes and "Mon 03" in notes
    assert f"fewer than {MIN_CELL_SAMPLES} TTFT samples: Mon 05" in notes


def test_probes_started_by_hand_are_never_called_crowded() -> None:
    by_hand = [Probe("a", MON + timedelta(minutes=m), None, False) for m in (1, 20, 40)]
    assert judge(by_hand, {})["a"].crowded == []


def test_a_busy_machine_is_warned_of_in_every_format() -> None:
    trust = judge(_hourly("a", 20, saturated=set(range(12))), {})["a"]
    assert trust.busy()
    reports = {"a": TargetReport(trust=trust)}
    warning = busy_text(reports)
    assert warning.startswith("Warning: the client was saturated in 12 of 20 probes of a")
    assert "slower time warp" in warning
    assert warning in timeofday_md.render(reports, Options())
    assert busy_text({"a": TargetReport(trust=judge(_hourly("a", 20, {1}), {})["a"])}) == ""


@pytest.mark.slow
def test_the_report_leaves_out_a_saturated_run_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loadtest.cli import main

    prof = tmp_path / "p.toml"
    prof.write_text(
        f'out = "{tmp_path / "runs"}"\nduration = "2s"\ninterval = "1s"\n'
        "[load]\nconcurrency = 2\n[workload]\ninput_tokens = 20\noutput_tokens = 8\n"
        '[[targets]]\nname = "nano"\nkind = "openai"\nmodel = "gpt-4o-nano"\nbase_url = "sim"\n'
    )
    for _ in range(2):
        assert main(["run", str(prof), "--quiet", "--no-live"]) == 0
    first, second = sorted((tmp_path / "runs").iterdir())
    # The second run as a run on a busy machine would have written it: its client
    # saturated in one interval (a client cannot be made to saturate on cue).
    summary = json.loads((second / "summary.json").read_text())
    summary["client_health"]["saturated_intervals"] = 1
    (second / "summary.json").write_text(json.dumps(summary))
    db = str(tmp_path / "h.db")
    assert main(["store", "import", str(first), str(second), "--store", db]) == 0
    capsys.readouterr()
    args = ["report", "timeofday", "--store", db, "--since", "30d", "--format", "json"]
    assert main(args) == 0
    left = json.loads(capsys.readouterr().out)["targets"]["nano"]
    assert (left["probes"], left["probes_left_out"]) == (1, 1)
    assert main([*args, "--include-saturated"]) == 0
    kept = json.loads(capsys.readouterr().out)["targets"]["nano"]
    assert (kept["probes"], kept["probes_left_out"]) == (2, 0)
    both = sum(v["count"] for v in kept["cells"]["ttft"].values())
    one = sum(v["count"] for v in left["cells"]["ttft"].values())
    assert one < both  # the saturated run's intervals are out of the cells
