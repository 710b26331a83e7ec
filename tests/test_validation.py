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
