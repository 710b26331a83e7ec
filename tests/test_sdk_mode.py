"""`client = "sdk"`: requests through the official SDKs read the simulator's streams to
the same token counts as the raw path, judge the same answers the same way, and keep
the SDK's own retries unless loadtest's policy does the retrying."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from refuser import Refuser
from rich.console import Console

from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.runner import run
from loadtest.schema import Summary

KINDS = {
    "openai": "gpt-4o-mini",
    "openai-responses": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku",
}
FAST = """
[models."*"]
ttft_median_ms = 5
ttft_p95_ms = 10
tokens_per_s = 2000
[models."*".limits]
rpm = 0
tpm = 0
"""


def _run(tmp: Path, workload: str, requests: int) -> tuple[Path, Summary]:
    (tmp / "sim.toml").write_text(FAST)
    targets = "".join(
        f'[[targets]]\nname = "{client}-{kind}"\nkind = "{kind}"\nmodel = "{model}"\n'
        f'base_url = "sim"\nclient = "{client}"\n'
        for kind, model in KINDS.items()
        for client in ("raw", "sdk")
    )
    p = tmp / "p.toml"
    p.write_text(
        f'out = "{tmp / "out"}"\nseed = 2\nwarmup = "0s"\nduration = "30s"\n'
        f"requests = {requests}\n[load]\nmode = 'closed'\nconcurrency = 2\n"
        f"[workload]\n{workload}\n"
        f'[simulator]\nseed = 3\nconfig = "{tmp / "sim.toml"}"\n' + targets
    )
    return run(load_profile(p), Console(quiet=True), live=False, quiet=True)


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    return [x for x in rows if x.get("measured")]


@pytest.mark.slow
def test_the_sdks_read_the_same_streams_to_the_same_counts(tmp_path: Path) -> None:
    run_dir, summary = _run(
        tmp_path, "input_tokens = 40\noutput_tokens = 24\nignore_eos = true", 12
    )
    lines = _lines(run_dir)
    for kind in KINDS:
        raw, sdk = (summary["targets"][f"{c}-{kind}"] for c in ("raw", "sdk"))
        assert raw["requests"]["completed"] == sdk["requests"]["completed"] == 12
        for c in ("raw", "sdk"):
            mine = [x for x in lines if x["target"] == f"{c}-{kind}"]
            # the server's usage, read from its own events by either client
            assert all(x["output_tokens"] == 24 and not x["tokens_counted"] for x in mine)
            assert all(x["ttft"] > 0 and x["e2e"] >= x["ttft"] for x in mine)
        assert raw["tokens"]["input"] == pytest.approx(sdk["tokens"]["input"], rel=0.1)
        # one ITL gap per event after the first, on either path
        assert raw["metrics"]["itl"]["count"] == sdk["metrics"]["itl"]["count"]
    assert "official SDK" in summary["applied"]["client"]


@pytest.mark.slow
def test_sdk_answers_are_judged_as_the_simulator_announced(tmp_path: Path) -> None:
    run_dir, _ = _run(tmp_path, 'kind = "tools"\noutput_tokens = 300', 40)
    lines = _lines(run_dir)
    for kind in KINDS:
        mine = [x for x in lines if x["target"] == f"sdk-{kind}"]
        assert len(mine) == 40 and all(not x["error"] for x in mine)
        said = {"refusal": "ok"}  # on an underspecified task, asking back does the task
        for x in mine:
            if x["outcome"] != x["sim_outcome"]:
                assert x["task"].startswith("five-u") and said.get(x["sim_outcome"]) == x["outcome"]
        assert sum(x.get("ttfa") is not None for x in mine) > 20


def _refused(tmp: Path, extra: str) -> int:
    with Refuser(429) as server:
        p = tmp / "p.toml"
        p.write_text(
            f'out = "{tmp}"\nwarmup = "0s"\nduration = "10s"\nrequests = 1\n'
            "[load]\nmode = 'closed'\nconcurrency = 1\n"
            "[[targets]]\nname = 'a'\nkind = 'openai-compatible'\nmodel = 'm'\n"
            f"base_url = '{server.url}'\nclient = 'sdk'\n{extra}"
        )
        _, summary = run(load_profile(p), Console(quiet=True), live=False, quiet=True)
        assert summary["targets"]["a"]["errors"] == {"http_429": 1}
        return server.count


@pytest.mark.slow
def test_the_sdks_own_retries_stay_unless_loadtest_retries(tmp_path: Path) -> None:
    assert _refused(tmp_path, "") == 3  # the SDK's default: two retries of its own
    assert _refused(tmp_path, "retry = { attempts = 2, backoff = '1ms' }\n") == 2


def test_client_must_be_raw_or_sdk(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text("[[targets]]\nkind = 'openai'\nmodel = 'm'\nbase_url = 'sim'\nclient = 'httpx'\n")
    with pytest.raises(ConfigError, match=r"targets\[0\]\.client: expected one of raw, sdk"):
        load_profile(p)
