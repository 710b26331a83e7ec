"""Starting without writing a file: `run --base-url URL --model NAME` (one target, sensible
defaults), `init` (a commented starter profile), and the quickstart found from any folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.cli import main
from loadtest.cli.running import profile_path
from loadtest.profile import load_profile
from loadtest.quick_profile import flags_profile
from loadtest.starter import STARTER


def test_a_flags_profile_has_one_target_and_the_stated_defaults() -> None:
    p = flags_profile("http://127.0.0.1:8000/v1", "llama", "openai-compatible", env={})
    (t,) = p.targets
    assert (t.name, t.kind, t.model, t.base_url) == (
        "llama",
        "openai-compatible",
        "llama",
        "http://127.0.0.1:8000/v1",
    )
    assert (p.load.mode, p.load.concurrency, p.duration_s, p.warmup_s) == ("closed", 4, 30.0, 3.0)
    assert (p.workload.input_tokens.mean, p.workload.output_tokens.mean) == (200, 128)
    assert not t.api_key_required  # openai-compatible without --api-key-env: no key sent
    short = flags_profile("sim", "m", "anthropic", duration_s=20.0, env={})
    assert short.warmup_s == 2.0 and short.targets[0].api_key_env == "ANTHROPIC_API_KEY"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--model", "m"], "--model: needs --base-url"),
        (["--base-url", "sim"], "--base-url: needs --model"),
        (["p.toml", "--base-url", "sim", "--model", "m"], "without a profile; p.toml is one"),
        (["--base-url", "ftp://h", "--model", "m"], "targets[0].base_url: expected an http(s) URL"),
        (["--input-tokens", "5"], "--input-tokens: only with --base-url and --model"),
        (
            ["--base-url", "sim", "--model", "m", "--output-tokens", "0"],
            "--output-tokens: expected",
        ),
    ],
)
def test_flag_mistakes_are_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err


@pytest.mark.slow
def test_a_target_from_the_command_line_runs_against_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--base-url", "sim", "--model", "gpt-4o-nano", "--kind", "openai"]
    argv += ["--rate", "8", "--duration", "3s", "--output-tokens", "16", "--out", str(tmp_path)]
    assert main([*argv, "--no-live"]) == 0
    out = capsys.readouterr().out
    assert "Load: gpt-4o-nano: open loop, 8 req/s, constant arrivals" in out
    (d,) = tmp_path.iterdir()
    summary = json.loads((d / "summary.json").read_text())
    t = summary["targets"]["gpt-4o-nano"]
    assert summary["profile"] == "cli" and summary["applied"]["warmup_s"] == 0.3
    assert t["load"]["rate"] == 8.0 and t["requests"]["completed"] > 10
    assert t["metrics"]["output_tokens"]["p50"] == 16
    assert t["rates"]["sent_per_s"] == pytest.approx(8.0, rel=0.1)


def test_init_writes_a_starter_that_loads_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.toml"
    assert main(["init", str(path)]) == 0
    assert path.read_text() == STARTER
    p = load_profile(path, env={})
    assert p.targets[0].kind == "openai-compatible" and len(p.thresholds) == 2
    path.write_text("edited")
    assert main(["init", str(path)]) == 2
    assert "exists already (--force overwrites it)" in capsys.readouterr().err
    assert path.read_text() == "edited"
    assert main(["init", str(path), "--force"]) == 0 and path.read_text() == STARTER


def test_the_quickstart_is_found_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no profiles/ here
    found = Path(profile_path(None))
    assert found.is_absolute() and found.name == "quickstart.toml"
    assert load_profile(found).name == "quickstart"
