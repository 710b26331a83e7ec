"""Values that cannot be meant are refused when the profile is read, in one line naming
the key: NaN and infinity anywhere a number or a duration goes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadtest.config_reader import ConfigError, parse_duration
from loadtest.profile import apply_overrides, load_profile

TARGET = '[[targets]]\nkind = "openai"\nmodel = "m"\nbase_url = "sim"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[load]\nrate = nan\n" + TARGET, "load.rate: expected a finite number, got nan"),
        ("[load]\nrate = inf\n" + TARGET, "load.rate: expected a finite number, got inf"),
        ("error_budget = nan\n" + TARGET, "error_budget: expected a finite number"),
        ("duration = inf\n" + TARGET, "duration: expected a duration"),
        ('duration = "infs"\n' + TARGET, "duration: expected a duration"),
        ('interval = "nanm"\n' + TARGET, "interval: expected a duration"),
        (TARGET + "input_price = -inf\n", "targets[0].input_price: expected a finite number"),
        (
            TARGET + "[targets.load]\nmode = 'open'\nrate = +inf\n",
            "targets[0].load.rate: expected a finite number",
        ),
        ("[timeouts]\ntotal = inf\n" + TARGET, "timeouts.total: expected a duration"),
        (
            "[workload.output_tokens]\ndistribution = 'normal'\nmean = 100\nstddev = nan\n"
            + TARGET,
            "workload.output_tokens.stddev: expected a finite number",
        ),
    ],
)
def test_nan_and_infinity_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["inf", "nan", "infs", "-infm", float("inf"), float("nan")])
def test_durations_are_finite(text: object) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('duration = "10s"\nwarmup = "10s"\n' + TARGET, "warmup: expected a warm-up shorter"),
        ('duration = "5s"\nwarmup = "1m"\n' + TARGET, "than the duration (5 s), got 60 s"),
    ],
)
def test_a_warm_up_must_leave_something_to_measure(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_profile(path)


def test_flags_are_checked_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('warmup = "20s"\nduration = "1m"\n' + TARGET)
    p = load_profile(path)
    with pytest.raises(ConfigError, match=r"--duration: expected a warm-up shorter"):
        apply_overrides(p, duration_s=10.0)
    for rate in (float("nan"), float("inf"), 0.0):
        with pytest.raises(ConfigError, match="--rate: expected a number > 0"):
            apply_overrides(p, rate=rate)


# --- validate means ready -------------------------------------------------------------

SIM_TARGET = '[[targets]]\nname = "t"\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "sim"\n'
REAL_TARGET = (
    '[[targets]]\nname = "t"\nkind = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
)
FILES: dict[str, bytes] = {
    "bad.jsonl": b'{"prompt": "hi"}\n\xff\xfe\n',
    "shape.jsonl": b'{"prompt": "hi"}\n{"messages": "hello"}\n',
    "parts.jsonl": b'{"messages": [{"role": "user"}]}\n',
    "notjson.jsonl": b"{'prompt': 'hi'}\n",
    "empty.jsonl": b"\n\n",
    "sim.toml": b"[models.x]\nttft_medain_ms = 3\n",
}

READY = [
    # (profile body, exit code, the one line's words)
    (
        '[workload]\nprompts_file = "nope.jsonl"\n' + SIM_TARGET,
        2,
        "workload.prompts_file: nope.jsonl: cannot read prompts file (No such file",
    ),
    (
        '[workload]\nprompts_file = "bad.jsonl"\n' + SIM_TARGET,
        2,
        "workload.prompts_file: bad.jsonl:2: not UTF-8 (byte 0xff)",
    ),
    (
        '[workload]\nprompts_file = "shape.jsonl"\n' + SIM_TARGET,
        2,
        'shape.jsonl:2: expected {"messages": [...]} or {"prompt": "..."}',
    ),
    (
        '[workload]\nprompts_file = "parts.jsonl"\n' + SIM_TARGET,
        2,
        'parts.jsonl:1: messages[0]: expected {"role": "...", "content": text',
    ),
    (
        '[workload]\nprompts_file = "notjson.jsonl"\n' + SIM_TARGET,
        2,
        "notjson.jsonl:1: not a JSON object",
    ),
    ('[workload]\nprompts_file = "empty.jsonl"\n' + SIM_TARGET, 2, "empty.jsonl: no prompts"),
    (
        '[simulator]\nconfig = "nosim.toml"\n' + SIM_TARGET,
        2,
        "simulator.config: nosim.toml: file not found",
    ),
    (
        '[simulator]\nconfig = "sim.toml"\n' + SIM_TARGET,
        2,
        "simulator.config: sim.toml: models.x.ttft_medain_ms: unknown key",
    ),
    (
        'thresholds = ["ttft.p95{target=nope} < 1s"]\n' + SIM_TARGET,
        2,
        "thresholds[0]: no target named 'nope' (t)",
    ),
    ('thresholds = ["errors.rate < 1"]\n' + SIM_TARGET, 2, "a bare rate is a fraction"),
    ('thresholds = ["errors.http_5xxx.count < 1"]\n' + SIM_TARGET, 2, "unknown error class"),
    (REAL_TARGET.replace("127.0.0.1:9", "127.0.0.1:99999"), 2, "base_url: expected an http(s) URL"),
    (REAL_TARGET.replace("http://127.0.0.1:9", "http://"), 2, "base_url: expected an http(s) URL"),
    (REAL_TARGET.replace("http://", "ftp://"), 2, "base_url: expected an http(s) URL"),
    (
        REAL_TARGET + 'api_key_env = "LOADTEST_NO_SUCH_KEY"\n',
        2,
        "target t: environment variable LOADTEST_NO_SUCH_KEY is not set",
    ),
    ('out = "/proc/loadtest-nope"\n' + SIM_TARGET, 3, "out_dir (--out): cannot write in /proc"),
    (
        '[schedule]\ncron = "0 * * * *"\nstore = "/proc/loadtest-nope/h.db"\n' + SIM_TARGET,
        3,
        "schedule.store /proc/loadtest-nope/h.db: cannot write in /proc/loadtest-nope",
    ),
    ('name = "caf\xe9"\n' + SIM_TARGET, 2, "p.toml:1: not UTF-8 (byte 0xe9 at offset 11)"),
    (
        '[load]\nmode = "open"\n' + SIM_TARGET,
        2,
        "load.rate: expected a rate in requests/s for an open-loop load (none given)",
    ),
    (SIM_TARGET + '[targets.load]\nmode = "open"\n', 2, "targets[0].load.rate: expected a rate"),
]


@pytest.mark.parametrize(("body", "code", "message"), READY, ids=[c[2][:40] for c in READY])
def test_validate_finds_what_would_stop_the_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    body: str,
    code: int,
    message: str,
) -> None:
    from loadtest.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOADTEST_NO_SUCH_KEY", raising=False)
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    # Latin-1 bytes where the case says so: a profile that is not UTF-8.
    (tmp_path / "p.toml").write_bytes(body.encode("latin-1"))
    for command in (["validate", "p.toml"], ["run", "p.toml", "--no-live"]):
        assert main(command) == code, command
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (command, err)
        assert "Traceback" not in err
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_a_ready_profile_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loadtest.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.jsonl").write_text(
        '{"prompt": "hi"}\n\n{"messages": [{"role": "user", "content": [{"type": "text"}]}]}\n'
    )
    (tmp_path / "p.toml").write_text('[workload]\nprompts_file = "ok.jsonl"\n' + SIM_TARGET)
    assert main(["validate", "p.toml"]) == 0


def test_rate_and_concurrency_together_are_refused_and_a_switch_of_loop_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loadtest.profile import override_notes

    path = tmp_path / "p.toml"
    path.write_text("[load]\nconcurrency = 4\n" + SIM_TARGET)
    p = load_profile(path)
    with pytest.raises(ConfigError, match="--rate and --concurrency: give one"):
        apply_overrides(p, rate=5.0, concurrency=3)
    assert override_notes(p, 5.0, None) == [
        "--rate 5: t's closed loop becomes an open loop at 5 req/s"
    ]
    assert override_notes(p, None, 8) == []  # closed stays closed: nothing to say
    stepped = tmp_path / "s.toml"
    stepped.write_text(
        '[load]\nmode = "open"\n[[load.steps]]\nduration = "5s"\nrate = 2\n' + SIM_TARGET
    )
    assert override_notes(load_profile(stepped), None, 8) == [
        "--concurrency 8: t's open loop and its 1 steps become a closed loop of 8"
    ]


def test_target_picks_its_own_gates_and_drops_the_others(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'thresholds = ["ttft.p95{target=u} < 1s", "e2e.p99 < 9s"]\n'
        + SIM_TARGET
        + SIM_TARGET.replace('name = "t"', 'name = "u"')
    )
    p = apply_overrides(load_profile(path), target="t")
    assert [g.expr for g in p.thresholds] == ["e2e.p99 < 9s"]
    with pytest.raises(ConfigError, match=r"--threshold: thresholds\[0\]: no target named 'u'"):
        apply_overrides(load_profile(path), target="t", thresholds=("ttft.p50{target=u} < 1s",))
