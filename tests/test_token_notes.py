"""Tokens a reader must know about, flagged in the table and reports, not only in JSON:
counted by loadtest (no usage from the server), none at all, and a reasoning model's
time to its first output token (ttfo) beside TTFT's first thinking token."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from loadtest.profile import load_profile
from loadtest.report import markdown
from loadtest.report.tables import token_notes
from loadtest.report.terminal import print_summary
from loadtest.runner import run
from loadtest.schema import Summary, TargetSummary


def _summary(tokens: dict[str, int]) -> Summary:
    t = {
        "requests": {"completed": 50},
        "tokens": {"input": 1, "output": 1, "requests_with_counted_tokens": 0, **tokens},
        "metrics": {},
    }
    return {"targets": {"x": t}}  # type: ignore[typeddict-item]


def test_zero_output_completions_are_said() -> None:
    assert token_notes(_summary({"requests_with_zero_output": 3})) == [
        "x: 3 of 50 completions had no output token at all"
    ]
    assert token_notes(_summary({})) == []


@pytest.mark.slow
def test_counted_tokens_and_reasoning_reach_the_table_and_the_reports(tmp_path: Path) -> None:
    sim = tmp_path / "sim.toml"
    sim.write_text('[models.thinker]\nbase = "gpt-4o-mini"\nreasoning_tokens = 30\n')
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path}"\nduration = "3s"\n[load]\nconcurrency = 2\n'
        "[workload]\ninput_tokens = 20\noutput_tokens = 50\n"
        '[[targets]]\nkind = "openai"\nmodel = "thinker"\nbase_url = "sim"\n'
        '[[targets]]\nname = "no-usage"\nkind = "openai"\nmodel = "gpt-4o-nano"\n'
        'base_url = "sim"\nstream_usage = false\n'
        f'[simulator]\nseed = 3\nconfig = "{sim}"\n'
    )
    run_dir, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    thinker: TargetSummary = summary["targets"]["thinker"]
    plain = summary["targets"]["no-usage"]
    done = thinker["requests"]["completed"]
    assert done > 0 and thinker["tokens"].get("requests_with_reasoning") == done
    ttft, ttfo = thinker["metrics"]["ttft"]["p50"], thinker["metrics"]["ttfo"]["p50"]
    assert ttfo > ttft + 100  # 30 thinking tokens come first
    assert plain["tokens"]["requests_with_counted_tokens"] == plain["requests"]["completed"] > 0
    assert plain["tokens"].get("requests_with_reasoning") == 0
    out = io.StringIO()
    print_summary(Console(file=out, width=100, color_system=None), summary, run_dir)
    text = " ".join(out.getvalue().split())  # as read, whatever the wrapping
    assert f"thinker: {done} of {done} completions reasoned first" in text
    assert "no-usage:" in text and "counted by loadtest" in text
    md = markdown.render(summary)
    assert "reasoned first" in md and "counted by loadtest" in md
    assert "reasoned first" in (run_dir / "index.html").read_text()
