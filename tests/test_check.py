"""loadtest check, the pure part: an hour judged against the same hour of earlier weeks
(tables of made-up histories), and the command's flags and exit codes on a real store."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loadtest import check
from loadtest.cli import main
from loadtest.config_reader import ConfigError, Table
from loadtest.probes import Probe
from loadtest.redact import origin
from loadtest.schedule import AlertSpec, read_alert
from loadtest.tally import bootstrap_ci_requests
from loadtest.timeofday import CountRow, IntervalRow

NY = ZoneInfo("America/New_York")
FRI = datetime(2026, 11, 20, tzinfo=NY)  # a Friday; the weeks before are the history


def _tally(
    rng: random.Random, median_ms: float, n: int = 40, sigma: float = 0.35
) -> dict[int, int]:
    out: dict[int, int] = {}
    for _ in range(n):
        v = int(rng.lognormvariate(0, sigma) * median_ms * 1000)
        out[v] = out.get(v, 0) + 1
    return out


def _history(
    rng: random.Random,
    hours: dict[int, float],
    weeks: int = 3,
    now: dict[int, float] | None = None,
    target: str = "a",
) -> tuple[list[IntervalRow], list[CountRow]]:
    """One 40-request probe at minute 5 of each of HOURS (hour -> median TTFT ms) on the
    Friday of each of WEEKS earlier weeks, then on FRI at NOW's medians (HOURS' when
    None)."""
    rows, counts = [], []
    for week in range(weeks, -1, -1):
        medians = (now or hours) if week == 0 else hours
        for hour, median in medians.items():
            at = FRI - timedelta(weeks=week) + timedelta(hours=hour, minutes=5)
            for metric, scale in (("ttft", 1.0), ("e2e", 1.2)):
                rows.append(IntervalRow(target, metric, at, _tally(rng, median * scale)))
            counts.append(CountRow(target, at, 40, 0, 0))
    return rows, counts


def _judge(rows: list[IntervalRow], counts: list[CountRow], hour: int) -> list[check.Finding]:
    end = FRI + timedelta(hours=hour, minutes=59)
    return check.judge(rows, counts, end - timedelta(hours=1), end)


def _one(found: list[check.Finding], metric: str) -> check.Finding:
    [f] = [f for f in found if f.metric == metric]
    return f


# (the usual median of the hour, now's, the verdict): an hour that is always slow is
# judged against itself; 1.3x is under the factor however sure; 3x is an alert.
CASES = [
    (400, 400, "ok"),  # an off-peak hour as usual
    (1000, 1000, "ok"),  # a peak hour, 2.5x off-peak, as slow as it always is
    (1000, 1050, "ok"),
    (400, 520, "ok"),  # 1.3x: under the factor
    (400, 1200, "alert"),  # 3x: an incident
    (1000, 2500, "alert"),  # 2.5x of an hour that is slow anyway
    (400, 280, "ok"),  # faster than usual is never an alert
]


@pytest.mark.parametrize(("usual", "now", "verdict"), CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_hour_is_judged_against_the_same_hour_of_earlier_weeks(
    usual: float, now: float, verdict: str, seed: int
) -> None:
    rng = random.Random(seed)
    rows, counts = _history(rng, {3: 400, 14: usual}, now={3: 400, 14: now})
    found = _judge(rows, counts, 14)
    assert {f.cell for f in found} == {(4, 14)}  # only the judged hour, Friday 14:00
    ttft = _one(found, "ttft")
    assert ttft.verdict == verdict, ttft.line()
    assert ttft.usual_weeks == 3 and ttft.usual_requests == 120 and ttft.recent_requests == 40
    assert ttft.ratio == pytest.approx(ttft.recent / ttft.usual)  # type: ignore[operator]
    assert ttft.ci95 is not None and ttft.ratio is not None
    assert ttft.ci95[0] <= ttft.ratio <= ttft.ci95[1]
    # beside it, off-peak: a slow peak hour is slow there, and still not an alert
    assert ttft.off_peak is not None and ttft.ratio_off_peak is not None
    if usual == 1000 and verdict == "ok":
        assert ttft.ratio_off_peak > 2
    assert _one(found, "error_rate").verdict == "ok"


def test_no_history_and_too_few_requests_are_said_never_alerts() -> None:
    rng = random.Random(4)
    rows, counts = _history(rng, {3: 400}, weeks=2, now={3: 400, 14: 2000})
    f = _one(_judge(rows, counts, 14), "ttft")
    assert f.verdict == "no history" and f.usual is None and "no earlier history" in f.line()
    rows = [IntervalRow(r.target, r.metric, r.start, dict(list(r.tally.items())[:5])) for r in rows]
    f = _one(_judge(rows, counts, 3), "ttft")
    assert f.verdict == "too few" and "too few requests" in f.line()


@pytest.mark.parametrize(
    ("usual_failed", "failed", "verdict"),
    [(0, 0, "ok"), (0, 1, "ok"), (1, 3, "ok"), (0, 8, "alert"), (2, 12, "alert")],
)
def test_error_and_429_rates_alert_on_a_clear_jump(
    usual_failed: int, failed: int, verdict: str
) -> None:
    rng = random.Random(5)
    rows, _ = _history(rng, {3: 400})
    counts = []
    for week in (3, 2, 1, 0):
        bad = failed if week == 0 else usual_failed
        at = FRI - timedelta(weeks=week) + timedelta(hours=3, minutes=5)
        counts.append(CountRow("a", at, 40 - bad, bad, bad))
    found = _judge(rows, counts, 3)
    for metric in check.RATES:
        f = _one(found, metric)
        assert f.verdict == verdict, f.line()
        assert f.recent == pytest.approx(failed / 40)


def test_targets_are_judged_apart_and_saturated_runs_are_counted() -> None:
    rng = random.Random(6)
    rows, counts = _history(rng, {14: 400}, now={14: 1600}, target="slow")
    more, more_counts = _history(rng, {14: 400}, target="steady")
    found = _judge(rows + more, counts + more_counts, 14)
    assert {(f.target, f.metric) for f in found if f.verdict == "alert"} == {
        ("slow", "ttft"),
        ("slow", "e2e"),
    }
    start = FRI + timedelta(hours=13, minutes=59)
    probes = [
        Probe("slow", FRI + timedelta(hours=14, minutes=5), None, True),
        Probe("slow", FRI - timedelta(weeks=1, hours=-14), None, True),
        Probe("steady", FRI + timedelta(hours=14, minutes=5), None, False),
    ]
    end = start + timedelta(hours=1)
    assert check.left_out(probes, start, end) == {"slow": {"judged": 1, "history": 1}}
    assert check.judged_runs(probes, start, end) == {"steady": 1}


def test_the_request_bootstrap_brackets_the_ratio_and_narrows_with_more_requests() -> None:
    rng = random.Random(7)
    base, same = _tally(rng, 400, 200), _tally(rng, 400, 200)
    lo, hi = bootstrap_ci_requests(base, same, 95.0) or (0, 0)
    assert lo < 1 < hi
    slow = _tally(rng, 1200, 40)
    lo2, hi2 = bootstrap_ci_requests(base, slow, 95.0) or (0, 0)
    assert 1.5 < lo2 < 3 < hi2
    wide = bootstrap_ci_requests(_tally(rng, 400, 20), _tally(rng, 400, 20), 95.0)
    assert wide is not None and wide[1] - wide[0] > hi - lo
    assert bootstrap_ci_requests({1000: 1}, same, 95.0) is None


def test_the_alert_table_and_webhook_urls() -> None:
    data = {"factor": 2, "webhook_env": "HOOK", "last": "30m", "include_saturated": True}
    spec = read_alert(Table(data, "p.toml", "schedule.alert"))
    assert spec.factor == 2 and spec.last_s == 1800 and spec.webhook_env == "HOOK"
    assert spec.include_saturated and not read_alert(Table({}, "p", "a")).include_saturated
    bad: list[tuple[dict[str, object], str]] = [
        ({"factor": 1}, "schedule.alert.factor: expected a number > 1"),
        ({"rate_jump": 2}, "schedule.alert.rate_jump"),
        ({"peak": "weekdays"}, "schedule.alert.peak: expected days and hours"),
        ({"webhook": "ftp://x/y"}, "schedule.alert.webhook: expected an http(s) URL"),
        ({"webhook": "http://h/x", "webhook_env": "V"}, "either webhook or webhook_env"),
        ({"sms": "yes"}, "sms"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=re.escape(message)):
            read_alert(Table(data, "p.toml", "schedule.alert"))
    with pytest.raises(ConfigError, match=r"webhook: \$LOADTEST_NO_SUCH_HOOK is not set"):
        AlertSpec(webhook_env="LOADTEST_NO_SUCH_HOOK").webhook_url()
    # only the scheme and host of a webhook are ever written: its path is its token
    assert origin("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com/…"
    assert origin("http://127.0.0.1:9000") == "http://127.0.0.1:9000"


def test_the_command_says_what_is_wrong_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--store", str(tmp_path / "none.db")]) == 2
    assert "no such store" in capsys.readouterr().err
    for flags, message in [
        (["--last", "soon"], "--last: expected a duration"),
        (["--factor", "0.9"], "--factor: expected a number > 1"),
        (["--rate-jump", "lots"], "--rate-jump: expected a share"),
        (["--at", "friday"], "--at: expected an ISO 8601 instant"),
        (["--tz", "Mars/Base"], "--tz: expected a zone"),
        (["--webhook", "hooks.example/x"], "--webhook: expected an http(s) URL"),
    ]:
        assert main(["check", "--store", str(tmp_path / "none.db"), *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (flags, err)


def test_a_store_with_nothing_to_judge_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loadtest import store

    db = tmp_path / "empty.db"
    store.connect(db).close()
    assert main(["check", "--store", str(db)]) == 1
    err = capsys.readouterr().err
    assert "no probe runs to judge (no interval is stored)" in err and err.count("\n") == 1


def test_a_webhook_in_the_profile_is_never_written_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        """
[[targets]]
kind = "openai"
model = "gpt-4o-mini"
base_url = "sim"
[schedule]
alert = { webhook = "https://hooks.example.com/services/T0/B0/tok3n-s3cret" }
"""
    )
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tok3n-s3cret" not in out and "https://hooks.example.com/…" in out
