"""SLO gates: parsing, judging a summary, profiles, and `loadtest run` exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.cli import main
from loadtest.config_reader import ConfigError
from loadtest.errors import ExitCode
from loadtest.profile import load_profile
from loadtest.thresholds import evaluate, parse

GOLDEN = json.loads((Path(__file__).parent / "golden" / "summary.json").read_text())

PARSED = [
    ("ttft.p95 < 800ms", ("metric", "ttft", "p95", "<", 800.0, None)),
    ("e2e.p99 <= 5s", ("metric", "e2e", "p99", "<=", 5000.0, None)),
    ("itl.p99.9 < 250us", ("metric", "itl", "p99_9", "<", 0.25, None)),
    ("ttft.max<2000", ("metric", "ttft", "max", "<", 2000.0, None)),
    (
        "e2e.p50{target=claude-3-5-haiku} > 1.5s",
        ("metric", "e2e", "p50", ">", 1500.0, "claude-3-5-haiku"),
    ),
    ("ttft.p95{ target = llama3:8b } < 1s", ("metric", "ttft", "p95", "<", 1000.0, "llama3:8b")),
    ("errors.rate < 1%", ("errors", "", "rate", "<", 0.01, None)),
    ("errors.rate < 0.05", ("errors", "", "rate", "<", 0.05, None)),
    ("errors.http_429.count <= 10", ("errors", "http_429", "count", "<=", 10.0, None)),
    ("throughput.output_tokens > 500/s", ("throughput", "output_tokens", "rate", ">", 500.0, None)),
    ("throughput.requests >= 2", ("throughput", "requests", "rate", ">=", 2.0, None)),
    ("output_speed.p50 >= 40", ("metric", "output_speed", "p50", ">=", 40.0, None)),
    ("errors.rate < 0.5", ("errors", "", "rate", "<", 0.5, None)),  # a bare rate: a fraction
    ("errors.rate <= 100%", ("errors", "", "rate", "<=", 1.0, None)),
    ("errors.shed.count <= 0", ("errors", "shed", "count", "<=", 0.0, None)),
    ("errors.abandoned.rate < 1%", ("errors", "abandoned", "rate", "<", 0.01, None)),
]


@pytest.mark.parametrize(("expr", "fields"), PARSED, ids=[p[0] for p in PARSED])
def test_expressions_parse(expr: str, fields: tuple) -> None:  # type: ignore[type-arg]
    t = parse(expr)
    assert (t.kind, t.name, t.stat, t.op, t.limit, t.target) == pytest.approx(fields)


BAD = [
    ("ttft < 800ms", "unknown metric"),
    ("latency.p95 < 800ms", "unknown metric"),
    ("ttft.p42 < 800ms", "unknown statistic 'p42'"),
    ("ttft.p95 < 800 parsecs", "a duration takes us, ms or s, not 'parsecs'"),
    ("ttft.p95 < fast", "expected METRIC.STAT"),
    ("ttft.p95 < 800min", "a duration takes us, ms or s"),
    ("ttft.p95 == 800ms", "expected METRIC.STAT"),
    ("errors.rate < 1ms", "a rate takes % or no unit"),
    ("errors.count < 5%", "a count takes no unit"),
    ("errors.oops", "expected METRIC.STAT"),
    ("throughput.bytes > 5", "expected throughput.requests, throughput.output_tokens or .goodput"),
    ("output_tokens.p50 > 5/s", "output_tokens takes no unit"),
    # A bare number where a percentage or a fraction is meant: which one cannot be known.
    ("errors.rate < 1", "a bare rate is a fraction (0.01 = 1%), so 1 cannot be meant; write 1%"),
    ("errors.rate < 5", "write 5% or 0.05"),
    ("errors.http_429.rate <= 2", "a bare rate is a fraction"),
    ("errors.rate < 150%", "a rate is at most 100%, not 150%"),
    ("errors.http_5xxx.count < 3", "unknown error class 'http_5xxx'; expected one of connect"),
    ("errors.timeout.rate < 1%", "unknown error class 'timeout'"),
]


@pytest.mark.parametrize(("expr", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_expressions_get_one_line(expr: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(expr, "--threshold")
    assert message in str(info.value) and str(info.value).startswith("--threshold: ")
    assert "\n" not in str(info.value)


def test_judged_per_target_with_values_seen() -> None:
    gates = [
        parse("ttft.p95 < 800ms"),
        parse("errors.http_429.count <= 7"),
        parse("errors.rate < 5%"),
        parse("throughput.output_tokens > 620/s"),
        parse("tpot.p50 < 10ms"),  # never recorded in this summary
        parse("ttft.p50{target=nobody} < 1s"),
    ]
    got = {
        (g["expr"], g["target"]): (g["value"], g["ok"]) for g in evaluate(gates, GOLDEN["targets"])
    }
    mini, haiku = "gpt-4o-mini", "claude-3-5-haiku"
    assert got["ttft.p95 < 800ms", mini] == (1250.0, False)
    assert got["ttft.p95 < 800ms", haiku] == (585.0, True)
    assert got["errors.http_429.count <= 7", mini] == (7.0, True)
    assert got["errors.http_429.count <= 7", haiku] == (0.0, True)
    assert got["errors.rate < 5%", mini] == (0.04, True)  # 10 of 250 recorded
    assert got["throughput.output_tokens > 620/s", mini] == (612.4, False)
    assert got["throughput.output_tokens > 620/s", haiku] == (640.0, True)
    assert got["tpot.p50 < 10ms", mini] == (None, False)  # no data does not pass
    assert got["ttft.p50{target=nobody} < 1s", "nobody"] == (None, False)


def test_profile_thresholds_global_and_per_target(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'thresholds = ["errors.rate < 1%"]\n'
        '[[targets]]\nname = "a"\nkind = "openai"\nmodel = "m"\nbase_url = "sim"\n'
        'thresholds = ["ttft.p95 < 800ms"]\n'
        '[[targets]]\nname = "b"\nkind = "openai"\nmodel = "m"\nbase_url = "sim"\n'
    )
    gates = load_profile(path, env={}).thresholds
    assert [(g.expr, g.target) for g in gates] == [
        ("errors.rate < 1%", None),
        ("ttft.p95 < 800ms", "a"),
    ]
    path.write_text(
        '[[targets]]\nkind = "openai"\nmodel = "m"\nbase_url = "sim"\n'
        'thresholds = ["ttft.p95 < 800 furlongs"]\n'
    )
    with pytest.raises(
        ConfigError, match=r"p.toml: targets\[0\].thresholds\[0\]: a duration takes"
    ):
        load_profile(path, env={})


PROFILE = """
out = "{out}"
duration = "3s"
warmup = "0.5s"
interval = "1s"
[load]
concurrency = 4
[workload]
input_tokens = 20
output_tokens = 10
[[targets]]
name = "nano"
kind = "openai"
model = "gpt-4o-nano"
base_url = "sim"
[simulator]
sim_start = "2026-11-22T03:00:00-05:00"
config = "{cfg}"
"""


@pytest.mark.slow
def test_run_exits_99_when_a_gate_fails_and_0_when_all_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "sim.toml"
    cfg.write_text("[models.gpt-4o-nano]\nttft_median_ms = 100\nttft_p95_ms = 100.1\n")
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.format(out=tmp_path / "reports", cfg=cfg))
    args = ["run", str(path), "--quiet"]
    ok = ["--threshold", "ttft.p50 < 300ms", "--threshold", "errors.rate < 1%"]
    db = tmp_path / "history.db"
    assert main([*args, *ok, "--store", str(db)]) == 0
    assert main(["store", "list", "--store", str(db)]) == 0
    assert "nano (gpt-4o-nano)" in capsys.readouterr().out  # the run went into the history
    assert main([*args, *ok, "--threshold", "ttft.p50 < 50ms"]) == ExitCode.THRESHOLDS_FAILED
    capsys.readouterr()
    assert (
        main(["report", str(sorted((tmp_path / "reports").iterdir())[1]), "--format", "term"]) == 0
    )
    assert "FAIL ttft.p50 < 50ms [nano]" in capsys.readouterr().out
    runs = sorted((tmp_path / "reports").iterdir())
    passed, failed = (json.loads((r / "summary.json").read_text()) for r in runs)
    assert passed["thresholds_ok"] and len(passed["thresholds"]) == 2
    assert not failed["thresholds_ok"]
    verdicts = {g["expr"]: g["ok"] for g in failed["thresholds"]}
    assert verdicts == {
        "ttft.p50 < 300ms": True,
        "errors.rate < 1%": True,
        "ttft.p50 < 50ms": False,
    }
    seen = next(g["value"] for g in failed["thresholds"] if g["expr"] == "ttft.p50 < 50ms")
    assert 95 <= seen <= 120  # the injected 100 ms
    assert "ttft.p50 &lt; 50ms" in (runs[1] / "index.html").read_text()
    capsys.readouterr()
    assert main(["report", str(runs[1]), "--format", "md"]) == 0
    assert "| ttft.p50 < 50ms | nano |" in capsys.readouterr().out


def test_only_error_counts_bounded_above_can_be_doomed_early() -> None:
    from loadtest.thresholds import doomed

    gates = [parse("ttft.p95 < 1ms"), parse("errors.rate < 1%"), parse("errors.count > 100")]
    assert doomed(gates, {"a": {"http_5xx": 50}}) is None  # may all still pass at the end
    gates.append(parse("errors.http_429.count{target=b} <= 2"))
    assert doomed(gates, {"a": {"http_429": 9}, "b": {"http_429": 2}}) is None
    assert doomed(gates, {"b": {"http_429": 3}}) == "errors.http_429.count{target=b} <= 2 [b]"
    assert doomed([parse("errors.count < 3")], {"a": {"x": 1, "y": 2}}) == "errors.count < 3 [a]"
    # What the run cut short or never sent is not a server failure, but has gates of its own.
    so_far = {"a": {"http_5xx": 1, "shed": 40, "unsent": 3}}
    assert doomed([parse("errors.count < 3")], so_far) is None
    assert doomed([parse("errors.shed.count < 10")], so_far) == "errors.shed.count < 10 [a]"


def test_abandoned_shed_and_unsent_are_gated_from_the_request_counts() -> None:
    target = GOLDEN["targets"]["gpt-4o-mini"]
    req = {**target["requests"], "abandoned": 2, "shed": 5, "unsent": 3}
    summary = {"gpt-4o-mini": {**target, "requests": req}}
    meant = req["recorded"] + 10
    results = evaluate(
        [
            parse(x)
            for x in (
                "errors.shed.count <= 0",
                "errors.unsent.count < 4",
                "errors.abandoned.rate < 1%",
                "errors.count <= 1000000",
            )
        ],
        summary,  # type: ignore[arg-type]
    )
    assert [(r["value"], r["ok"]) for r in results] == [
        (5.0, False),
        (3.0, True),
        (round(2 / meant, 6), 2 / meant < 0.01),
        (float(req["failed"]), True),  # server failures only
    ]


@pytest.mark.slow
def test_abort_on_fail_stops_the_run_when_a_gate_is_lost(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.toml"
    cfg.write_text("[models.gpt-4o-nano.faults]\nhttp_500 = 0.5\n")
    path = tmp_path / "p.toml"
    path.write_text(
        'thresholds = ["errors.count < 5"]\n'
        + PROFILE.format(out=tmp_path / "reports", cfg=cfg).replace('"3s"', '"60s"')
    )
    assert main(["run", str(path), "--quiet", "--abort-on-fail"]) == ExitCode.THRESHOLDS_FAILED
    summary = json.loads(
        next((tmp_path / "reports").iterdir()).joinpath("summary.json").read_text()
    )
    assert summary["run"]["stopped_by"] == "threshold errors.count < 5 [nano]"
    assert summary["run"]["duration_s"] < 20 and not summary["thresholds_ok"]
