"""Judged workloads end to end: loadtest against the simulator, every answer judged by
loadtest as the simulator announced it meant it (x-sim-outcome), success rates whose
interval holds the injected rate, and agent tasks whose latency holds their tools'."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from loadtest.profile import load_profile
from loadtest.runner import run
from loadtest.schema import Summary
from loadtest.summary_quality import wilson
from loadtest.tasks import read_tasks, shipped_task_file
from loadtest.validators import OK, REFUSAL

# Fast presets (what is said is under test, not when), and one plain behaviour for the
# three models: a wrong tool one time in five on a clear task, nothing else wrong; an
# underspecified task is always answered with a question (which does the task).
FAST = """
[models."*"]
ttft_median_ms = 2
ttft_p95_ms = 4
prefill_ms_per_1k_tokens = 0
tokens_per_s = 5000
token_jitter = 0
[models."*".limits]
rpm = 0
tpm = 0
"""
PLAIN = """
[models."{model}".agent]
tool_accuracy = 0.8
overlap_accuracy = 1.0
invalid_json = 0.0
schema_violation = 0.0
nested_violation = 0.0
wrong_arguments = 0.0
invents = 0.0
lead_tokens = 0
"""
TARGETS = {
    "chat": ("openai", "gpt-4o-mini"),
    "responses": ("openai-responses", "gpt-4o-nano"),
    "messages": ("anthropic", "claude-3-5-haiku"),
}
TOOL_TASKS = {t.id: t for t in read_tasks(shipped_task_file("agent-tools"))}


def _run(tmp: Path, workload: str, requests: int, sim: str = FAST) -> tuple[Path, Summary]:
    (tmp / "sim.toml").write_text(sim)
    targets = "".join(
        f'[[targets]]\nname = "{name}"\nkind = "{kind}"\nmodel = "{model}"\nbase_url = "sim"\n'
        for name, (kind, model) in TARGETS.items()
    )
    p = tmp / "p.toml"
    p.write_text(
        f'out = "{tmp / "out"}"\nseed = 5\nwarmup = "0s"\nduration = "60s"\n'
        f"requests = {requests}\n[load]\nmode = 'closed'\nconcurrency = 1\n"
        f"[workload]\n{workload}\noutput_tokens = 400\n"
        f'[simulator]\nseed = 11\nconfig = "{tmp / "sim.toml"}"\n' + targets
    )
    return run(load_profile(p), Console(quiet=True), live=False, quiet=True)


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    return [x for x in rows if x.get("measured")]


def _announced(line: dict[str, Any]) -> str:
    """What the simulator meant, in loadtest's terms: on an underspecified task its
    question back is the right answer."""
    said = str(line["sim_outcome"])
    task = TOOL_TASKS.get(str(line.get("task")))
    return OK if said == REFUSAL and task is not None and task.underspecified else said


@pytest.mark.slow
def test_tool_calls_are_judged_as_announced_and_the_rate_is_the_injected_one(
    tmp_path: Path,
) -> None:
    sim = FAST + "".join(PLAIN.format(model=m) for _, m in TARGETS.values())
    run_dir, summary = _run(tmp_path, 'kind = "tools"', 232, sim)  # each task twice
    lines = _lines(run_dir)
    # Every target is judged on the same tasks in the same order, so their rates pair up.
    orders = {n: [x["task"] for x in lines if x["target"] == n] for n in TARGETS}
    assert orders["chat"] == orders["responses"] == orders["messages"]
    assert Counter(orders["chat"]) == dict.fromkeys(TOOL_TASKS, 2)
    for name in TARGETS:
        mine = [x for x in lines if x["target"] == name]
        assert len(mine) == 232 and not [x for x in mine if x["error"]]
        wrong = [
            (x["task"], x["outcome"], _announced(x)) for x in mine if x["outcome"] != _announced(x)
        ]
        assert not wrong, wrong[:5]
        # Injected: 0.8 on the 100 clear tasks, 1.0 on the 16 underspecified ones.
        injected = (100 * 0.8 + 16 * 1.0) / 116
        q = summary["targets"][name].get("quality")
        assert q is not None and q["judged"] == 232
        low, high = q["interval95"]
        assert low <= injected <= high, (name, q)
        assert (low, high) == pytest.approx(wilson(q["succeeded"], 232))
        assert set(Counter(x["outcome"] for x in mine)) <= {OK, "wrong_tool", "no_tool_call"}
        ttfa = summary["targets"][name]["metrics"]["ttfa"]
        assert ttfa["count"] == sum(1 for x in mine if x.get("ttfa") is not None) > 150


@pytest.mark.slow
def test_extractions_are_judged_as_announced(tmp_path: Path) -> None:
    run_dir, summary = _run(tmp_path, 'kind = "extract"', 150)
    for name in TARGETS:
        mine = [x for x in _lines(run_dir) if x["target"] == name]
        assert len(mine) == 150
        wrong = [
            (x["task"], x["outcome"], x["sim_outcome"])
            for x in mine
            if x["outcome"] != x["sim_outcome"]
        ]
        assert not wrong, wrong[:5]
        q = summary["targets"][name].get("quality")
        assert q is not None and 0 < q["success_rate"] < 1  # the presets' own slips show


@pytest.mark.slow
def test_agent_tasks_are_judged_as_announced_and_their_latency_holds_the_tools(
    tmp_path: Path,
) -> None:
    run_dir, summary = _run(tmp_path, 'kind = "agent"\ntool_latency_ms = 40', 40)
    for name in TARGETS:
        mine = [x for x in _lines(run_dir) if x["target"] == name]
        assert len(mine) == 40
        # The first wrong turn is the task's outcome, and the simulator's at that turn.
        wrong = [
            (x["task"], x["outcome"], x["sim_outcome"])
            for x in mine
            if x["outcome"] != x["sim_outcome"]
        ]
        assert not wrong, wrong[:5]
        for x in mine:  # a tool ran 40 ms after every call but the last
            tools = x["model_calls"] - 1
            # uvloop's timers keep whole milliseconds: a sleep may end up to 1 ms early
            assert 40 * tools - tools <= x["task_tools"] < 40 * tools + 15 * tools + 1
            assert x["e2e"] >= x["task_model"] + x["task_tools"] - 1
        t = summary["targets"][name]
        tasks = t.get("tasks")
        assert tasks is not None and tasks["completed"] == 40
        assert 0 < tasks["tool_share"] < 1 and tasks["model_share"] + tasks["tool_share"] <= 1.001
        assert t["metrics"]["model_calls"]["max"] <= 8
