"""Values that cannot be meant are refused when the profile is read, in one line naming
the key: NaN and infinity anywhere a number or a duration goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.config_reader import ConfigError, parse_duration
from loadtest.profile import load_profile

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
