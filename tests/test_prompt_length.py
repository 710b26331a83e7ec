"""Prompt lengths in the server's tokens: a profile's tokenizer.json cuts prompts at
their N-th token; without one, each target is calibrated from its warm-up's usage, so
that a server that counts 1.6 times the simulator's chars/4 gets the tokens asked for."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rich.console import Console

from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.prompt_length import CALIBRATED, ESTIMATE, TOKENIZER, Fit, fit, load_tokenizer
from loadtest.runner import run
from loadtest.workload import PromptSource
from loadtest.workload_spec import Lengths as Spread
from loadtest.workload_spec import Workload


def _word_tokenizer(path: Path) -> Path:
    """A real tokenizer.json, made here offline: one token per word (and punctuation)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from loadtest.workload import _WORDS

    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(sorted(set(_WORDS)))}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return path


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([(400, 107)] * 5, Fit(400 / 107)),  # one length: a ratio, the template in it
        ([(400, 107), (800, 207), (1200, 307)], Fit(4.0, 7.0)),  # varied: the line
        ([(400, 107)] * 2, None),  # too few to say
    ],
)
def test_the_fit_of_a_warm_up(samples: list[tuple[int, int]], expected: Fit | None) -> None:
    got = fit(samples)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got.chars_per_token == pytest.approx(expected.chars_per_token)
    assert got.overhead == pytest.approx(expected.overhead, abs=1e-9)


def test_a_tokenizer_cuts_each_prompt_at_its_nth_token(tmp_path: Path) -> None:
    path = _word_tokenizer(tmp_path / "tokenizer.json")
    w = Workload(input_tokens=Spread("uniform", 60, 30, 5, 200), tokenizer=str(path))
    source = PromptSource(w, seed=3)
    tok = load_tokenizer(str(path))
    for i in range(50):
        rng = random.Random(3 * 1_000_003 + i)  # the prompt's own draws (fixed output: none)
        asked = w.input_tokens.sample(rng)
        text = source.prompt(i, "t", True).messages[-1]["content"]
        assert len(tok.encode(text, add_special_tokens=False).ids) == asked
    assert source.lengths.method_of("t") == TOKENIZER and source.lengths.of("t").prompts == 50


def test_a_tokenizer_that_is_not_there_or_not_one_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    for path, says in (
        (tmp_path / "nope.json", "no such tokenizer file"),
        (bad, "not a tokenizer.json"),
    ):
        with pytest.raises(ConfigError) as err:
            load_tokenizer(str(path))
        assert says in str(err.value) and "\n" not in str(err.value)
    prof = tmp_path / "p.toml"
    prof.write_text(
        f'[workload]\ntokenizer = "{bad}"\n'
        '[[targets]]\nkind = "openai"\nmodel = "m"\nbase_url = "sim"\n'
    )
    from loadtest import ready

    with pytest.raises(ConfigError) as err:
        ready.check(load_profile(prof))
    assert "workload.tokenizer" in str(err.value) and "not a tokenizer.json" in str(err.value)


def _sim_run(tmp_path: Path, workload: str, warmup: str = "1s") -> dict[str, object]:
    sim = tmp_path / "sim.toml"
    sim.write_text('[models.fine]\nbase = "gpt-4o-nano"\nprompt_token_scale = 1.6\n')
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path}"\nduration = "3s"\nwarmup = "{warmup}"\n[load]\nconcurrency = 4\n'
        f"[workload]\n{workload}\noutput_tokens = 4\n"
        '[[targets]]\nkind = "openai"\nmodel = "fine"\nbase_url = "sim"\n'
        f'[simulator]\nseed = 2\nconfig = "{sim}"\n'
    )
    _, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    return dict(summary["targets"]["fine"]["prompt_tokens"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "lengths",
    [
        "input_tokens = 120",
        'input_tokens = { distribution = "uniform", mean = 120, stddev = 40, min = 20, max = 400 }',
    ],
)
def test_calibration_gives_a_finer_tokenizer_the_tokens_asked_for(
    tmp_path: Path, lengths: str
) -> None:
    calibrated = _sim_run(tmp_path, lengths)
    assert calibrated["method"] == CALIBRATED
    asked, got = calibrated["requested_mean"], calibrated["server_mean"]
    assert isinstance(asked, float) and isinstance(got, float)
    assert got == pytest.approx(asked, rel=0.03)
    assert calibrated["chars_per_token"] == pytest.approx(4 / 1.6, rel=0.1)


@pytest.mark.slow
def test_without_a_warm_up_the_estimate_is_said_and_the_server_counts_more(tmp_path: Path) -> None:
    estimate = _sim_run(tmp_path, "input_tokens = 120", warmup="0s")
    assert estimate["method"] == ESTIMATE and "chars_per_token" not in estimate
    asked, got = estimate["requested_mean"], estimate["server_mean"]
    assert isinstance(asked, float) and isinstance(got, float)
    assert got == pytest.approx(1.6 * (asked + 7), rel=0.03)  # 7: the chat template's share
