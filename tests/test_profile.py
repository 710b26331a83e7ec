"""Profiles: shipped files load, mistakes get one line naming file and key, flags override."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from loadtest.config_reader import ConfigError
from loadtest.profile import SIM, apply_overrides, load_profile
from loadtest.workload_spec import Lengths

TARGET = '[[targets]]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "sim"\n'


def _write(tmp: Path, text: str) -> Path:
    p = tmp / "p.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("path", sorted(glob.glob("profiles/*.toml")))
def test_shipped_profiles_load(path: str) -> None:
    p = load_profile(path, env={})
    assert p.targets and p.duration_s > 0


def test_quickstart_drives_three_simulator_presets() -> None:
    p = load_profile("profiles/quickstart.toml", env={})
    assert [t.model for t in p.targets] == ["gpt-4o-mini", "gpt-4o-nano", "claude-3-5-haiku"]
    assert all(t.base_url == SIM for t in p.targets)
    assert p.duration_s == 30


BAD = [
    ("", "targets: expected at least one [[targets]] table"),
    ('duraton = "30s"\n' + TARGET, "duraton: unknown key"),
    ('duration = "soon"\n' + TARGET, "duration: expected a duration such as 30s"),
    (
        '[[targets]]\nkind = "bard"\nmodel = "m"\n',
        "targets[0].kind: expected one of anthropic, openai, openai-compatible, openai-responses,",
    ),
    ('[[targets]]\nkind = "openai"\n', "targets[0].model: expected a model name"),
    (
        '[[targets]]\nkind = "openai"\nmodel = "m"\nbase_url = "localhost:8000"\n',
        'targets[0].base_url: expected an http(s) URL or "sim"',
    ),
    (TARGET + TARGET, "targets: expected distinct target names"),
    (
        '[load]\nmode = "open"\n[[load.steps]]\nduration = "10s"\nconcurrency = 4\n' + TARGET,
        "load.steps[0].rate: expected a rate for each step of a open-loop load",
    ),
    ('[load]\narrivals = "weibull"\n' + TARGET, "load.arrivals: expected one of constant"),
    ("[load]\nconcurrency = 0\n" + TARGET, "load.concurrency: expected an integer >= 1"),
    (
        '[workload]\ninput_tokens = { distribution = "zipf" }\n' + TARGET,
        "workload.input_tokens.distribution: expected one of fixed",
    ),
    (
        "[workload]\noutput_tokens = { min = 10, max = 5 }\n" + TARGET,
        "workload.output_tokens.min: expected a value <= max (5)",
    ),
    ("[timeouts]\nttft = -1\n" + TARGET, "timeouts.ttft: expected a duration"),
    ("error_budget = 2\n" + TARGET, "error_budget: expected a number >= 0 and <= 1"),
    (TARGET + '[targets.load]\nrate = "fast"\n', "targets[0].load.rate: expected a number"),
    (
        '[[targets]]\nkind = "anthropic"\nmodel = "m"\nstream_usage = false\n',
        "targets[0].stream_usage: expected only for openai and openai-compatible targets",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[b[1].split(":")[0] for b in BAD])
def test_mistakes_are_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path, env={})
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and message in msg


def test_defaults_follow_the_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[[targets]]\nkind = "openai"\nmodel = "a"\n[[targets]]\nkind = "anthropic"\nmodel = "b"\n',
    )
    p = load_profile(path, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1/"})
    a, b = p.targets
    assert (a.base_url, a.api_key_env) == ("http://127.0.0.1:9/v1", "OPENAI_API_KEY")
    assert (b.base_url, b.api_key_env) == ("https://api.anthropic.com", "ANTHROPIC_API_KEY")
    assert a.api_key_required and b.api_key_required


@pytest.mark.parametrize(
    ("kind", "key_env", "base_env", "default_base"),
    [
        ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
        ("openai-responses", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
        ("openai-compatible", "", "OPENAI_BASE_URL", "https://api.openai.com/v1"),  # no key
        ("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    ],
)
def test_each_kind_has_its_key_and_base_url_variables(
    tmp_path: Path, kind: str, key_env: str, base_env: str, default_base: str
) -> None:
    path = _write(tmp_path, f'[[targets]]\nkind = "{kind}"\nmodel = "m"\n')
    t = load_profile(path, env={}).targets[0]
    assert (t.base_url, t.api_key_env) == (default_base, key_env)
    other = "ANTHROPIC_BASE_URL" if base_env == "OPENAI_BASE_URL" else "OPENAI_BASE_URL"
    env = {base_env: "http://127.0.0.1:9/x/", other: "http://127.0.0.1:1"}
    assert load_profile(path, env=env).targets[0].base_url == "http://127.0.0.1:9/x"


def test_stream_usage_is_refused_by_every_kind_without_stream_options(tmp_path: Path) -> None:
    for kind in ("openai-responses", "anthropic"):
        path = _write(
            tmp_path, f'[[targets]]\nkind = "{kind}"\nmodel = "m"\nstream_usage = false\n'
        )
        with pytest.raises(ConfigError, match="only for openai and openai-compatible targets"):
            load_profile(path, env={})
    path = _write(tmp_path, '[[targets]]\nkind = "openai"\nmodel = "m"\nstream_usage = false\n')
    assert not load_profile(path, env={}).targets[0].stream_usage


def test_openai_compatible_key_is_optional_unless_named(tmp_path: Path) -> None:
    local = '[[targets]]\nkind = "openai-compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:8000/v1"\n'
    t = load_profile(_write(tmp_path, local), env={}).targets[0]
    assert not t.api_key_required and t.stream_usage
    named = local + 'api_key_env = "LOCAL_KEY"\nstream_usage = false\n'
    t = load_profile(_write(tmp_path, named), env={}).targets[0]
    assert t.api_key_required and t.api_key_env == "LOCAL_KEY" and not t.stream_usage


def test_per_target_load_headers_params_and_lengths(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        TARGET
        + """
name = "x"
[targets.headers]
x-team = "perf"
[targets.params]
top_p = 0.9
[targets.load]
mode = "open"
rate = 3
[workload]
input_tokens = { distribution = "normal", mean = 500, stddev = 50, min = 100, max = 900 }
""",
    )
    p = load_profile(path, env={})
    t = p.targets[0]
    assert t.headers == (("x-team", "perf"),) and t.params == (("top_p", 0.9),)
    assert p.load_of(t).mode == "open" and p.load_of(t).rate == 3
    assert p.load.mode == "closed"
    lengths = p.workload.input_tokens
    assert lengths == Lengths("normal", 500, 50, 100, 900)


@pytest.mark.parametrize("dist", ["fixed", "uniform", "normal", "lognormal"])
def test_length_distributions_keep_mean_and_bounds(dist: str) -> None:
    import random

    lengths = Lengths(dist, 400, 100 if dist != "fixed" else 0, 50, 2000)
    rng = random.Random(1)
    xs = [lengths.sample(rng) for _ in range(20_000)]
    assert min(xs) >= 50 and max(xs) <= 2000
    assert sum(xs) / len(xs) == pytest.approx(400, rel=0.02)


def test_flags_override_the_profile() -> None:
    p = load_profile("profiles/quickstart.toml", env={})
    q = apply_overrides(
        p, rate=12.5, duration_s=5, requests=7, target="gpt-4o-nano", out_dir="/tmp/x"
    )
    assert [t.name for t in q.targets] == ["gpt-4o-nano"]
    assert q.load.mode == "open" and q.load.rate == 12.5
    assert (q.duration_s, q.requests, q.out_dir) == (5, 7, "/tmp/x")
    assert apply_overrides(p, concurrency=2).load.concurrency == 2
    with pytest.raises(ConfigError, match="--target: no target named 'nope'"):
        apply_overrides(p, target="nope")
    with pytest.raises(ConfigError, match="--rate: expected a number > 0"):
        apply_overrides(p, rate=0)


@pytest.mark.parametrize(
    ("value", "size"),
    [('"1MiB"', 1 << 20), ('"64 KiB"', 65536), ("100000", 100_000), ('"2MB"', 2_000_000)],
)
def test_max_event_size_is_a_size_in_bytes(tmp_path: Path, value: str, size: int) -> None:
    p = load_profile(_write(tmp_path, f"max_event_size = {value}\n" + TARGET), env={})
    assert p.max_event_bytes == size


@pytest.mark.parametrize("bad", ['"big"', "0", '"-1KiB"', "true", '"inf MiB"', "1.5"])
def test_max_event_size_defaults_to_1_mib_and_refuses_what_is_no_size(
    tmp_path: Path, bad: str
) -> None:
    assert load_profile(_write(tmp_path, TARGET), env={}).max_event_bytes == 1 << 20
    with pytest.raises(ConfigError, match="max_event_size: expected a size such as 1MiB"):
        load_profile(_write(tmp_path, f"max_event_size = {bad}\n" + TARGET), env={})
