"""The simulator on agent-shaped workloads, as a client sees it over the wire: it answers
the shipped tool, extraction and agent tasks in each API's format, at its preset's rates,
and what it announces (x-sim-outcome) is what loadtest.validators judges of the answer
it streamed."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from simclient import Result, many, write_config

from loadtest.sim.presets import BUILTIN
from loadtest.sim.process import Simulator
from loadtest.tasks import Task, read_tasks, shipped_task_file
from loadtest.toolsets import toolset
from loadtest.validators import (
    INVALID_JSON,
    NO_TOOL_CALL,
    OK,
    REFUSAL,
    WRONG_ANSWER,
    WRONG_ARGUMENTS,
    WRONG_TOOL,
    ToolCall,
    check_value,
    judge_extraction,
    judge_tool_call,
)

OFF_PEAK = "2026-11-22T03:00:00-05:00"
PRESETS = {p.name: p for p in BUILTIN}
MODELS = ("gpt-4o-mini", "gpt-4o-nano", "claude-3-5-haiku")
APIS = ("chat", "responses", "messages")
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}
TOOL_TASKS = read_tasks(shipped_task_file("agent-tools")) + read_tasks(
    shipped_task_file("overlapping-tools")
)
EXTRACTIONS = read_tasks(shipped_task_file("extraction"))
AGENTS = read_tasks(shipped_task_file("agent-tasks"))
# Fast presets: the behaviour under test is what is said, not when.
FAST = """
[models."*"]
ttft_median_ms = 1
ttft_p95_ms = 2
prefill_ms_per_1k_tokens = 0
tokens_per_s = 20000
token_jitter = 0
[models."*".limits]
rpm = 0
tpm = 0
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    cfg = write_config(tmp_path_factory.mktemp("agent"), FAST)
    with Simulator(cfg, seed=13, sim_start=OFF_PEAK) as s:
        yield s


# --- what a client sends -------------------------------------------------------------------


def _tools(api: str, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in toolset(name):
        if api == "chat":
            out.append({"type": "function", "function": t})
        elif api == "responses":
            out.append({"type": "function", **t, "strict": False})
        else:
            out.append(
                {
                    "name": t["name"],
                    "description": t["description"],
                    "input_schema": t["parameters"],
                }
            )
    return out


def _turns(api: str, task: Task, done: int) -> list[dict[str, Any]]:
    """TASK's conversation after DONE steps, each its expected call and scripted result."""
    out = [dict(m) for m in task.messages]
    for k, step in enumerate(task.steps[:done]):
        call_id, args = f"call_{k}", {"dataset": "x"}
        result = orjson.dumps(step.result).decode()
        if api == "chat":
            fn = {"name": step.expect.tool, "arguments": orjson.dumps(args).decode()}
            out.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": call_id, "type": "function", "function": fn}],
                }
            )
            out.append({"role": "tool", "tool_call_id": call_id, "content": result})
        elif api == "responses":
            arguments = orjson.dumps(args).decode()
            out.append(
                {
                    "type": "function_call",
                    "call_id": call_id,
                    "name": step.expect.tool,
                    "arguments": arguments,
                }
            )
            out.append({"type": "function_call_output", "call_id": call_id, "output": result})
        else:
            use = {"type": "tool_use", "id": call_id, "name": step.expect.tool, "input": args}
            out.append({"role": "assistant", "content": [use]})
            out.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call_id, "content": result}],
                }
            )
    return out


def body(api: str, model: str, task: Task, done: int = 0) -> dict[str, Any]:
    """The request a client sends for TASK (after DONE steps of an agent task)."""
    b: dict[str, Any] = {"model": model, "stream": True}
    turns = _turns(api, task, done)
    b["input" if api == "responses" else "messages"] = turns
    if api == "messages":
        b["max_tokens"] = 1024
    if task.schema is not None:
        schema = dict(task.schema)
        if api == "chat":
            b["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "extract", "schema": schema, "strict": True},
            }
        elif api == "responses":
            b["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": "extract",
                    "schema": schema,
                    "strict": True,
                }
            }
        else:
            b["tools"] = [
                {"name": "extract", "description": "Record the fields.", "input_schema": schema}
            ]
            b["tool_choice"] = {"type": "tool", "name": "extract"}
        return b
    b["tools"] = _tools(api, task.tools)
    b["tool_choice"] = {"type": "auto"} if api == "messages" else "auto"
    return b


# --- what a client reads -------------------------------------------------------------------


def answer(api: str, r: Result) -> tuple[str, list[ToolCall]]:
    """The streamed answer's text and tool calls, accumulated as a client does."""
    assert r.status == 200 and not r.error, (r.status, r.body, r.error)
    text, names, args = [], [], []
    for _, payload in r.events:
        if payload == b"[DONE]":
            continue
        ev = orjson.loads(payload)
        if api == "chat":
            for choice in ev.get("choices") or ():
                delta = choice["delta"]
                text.append(delta.get("content") or "")
                for call in delta.get("tool_calls") or ():
                    if "name" in call.get("function", {}):
                        names.append(call["function"]["name"])
                        args.append("")
                    args[call["index"]] += call["function"].get("arguments", "")
        elif api == "responses":
            kind = ev["type"]
            if kind == "response.output_text.delta":
                text.append(ev["delta"])
            elif kind == "response.output_item.added" and ev["item"]["type"] == "function_call":
                names.append(ev["item"]["name"])
                args.append("")
            elif kind == "response.function_call_arguments.delta":
                args[-1] += ev["delta"]
        elif ev["type"] == "content_block_start" and ev["content_block"]["type"] == "tool_use":
            names.append(ev["content_block"]["name"])
            args.append("")
        elif ev["type"] == "content_block_delta":
            delta = ev["delta"]
            if delta["type"] == "text_delta":
                text.append(delta["text"])
            elif delta["type"] == "input_json_delta":
                args[-1] += delta["partial_json"]
    return "".join(text), [ToolCall(n, a) for n, a in zip(names, args, strict=True)]


def judged(api: str, task: Task, r: Result, step: int = 0) -> str:
    """What loadtest.validators makes of the answer in R to TASK (at STEP)."""
    text, calls = answer(api, r)
    if task.schema is not None:
        return judge_extraction(
            task.schema, task.fields, calls[0].arguments if api == "messages" else text, task.prompt
        )
    schemas = {t["name"]: t["parameters"] for t in toolset(task.tools)}
    expect = task.expect if task.expect is not None else task.steps[step].expect
    return judge_tool_call(expect, schemas, calls, text, task.prompt)


def _run(sim: Simulator, api: str, bodies: list[dict[str, Any]]) -> list[Result]:
    return asyncio.run(many(sim.base_url + PATHS[api], bodies, 48))


def _near(hits: int, n: int, p: float, what: str) -> None:
    """HITS of N within 4 binomial standard errors of P (none at all where P is 0)."""
    if p == 0:
        assert hits == 0, what
        return
    se = math.sqrt(p * (1 - p) / n)
    assert abs(hits / n - p) <= 4 * se + 1e-9, (
        f"{what}: {hits}/{n} = {hits / n:.3f}, expected {p:.3f}"
    )


# --- the tests -----------------------------------------------------------------------------


def test_same_seed_same_answers_other_seed_other_answers(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, FAST)
    bodies = [body("chat", "gpt-4o-nano", t) for t in TOOL_TASKS[:40]]

    def run(seed: int) -> list[tuple[str, str, list[ToolCall]]]:
        with Simulator(cfg, seed=seed, sim_start=OFF_PEAK) as s:
            rs = asyncio.run(many(s.base_url + PATHS["chat"], bodies, 1))
        return [(r.headers["x-sim-outcome"], *answer("chat", r)) for r in rs]

    first = run(5)
    assert first == run(5)
    assert first != run(6)
    assert len({o for o, _, _ in first}) > 1  # not one outcome over and over
    # Another model's requests in between change none of nano's answers: each model
    # draws its own, so targets served side by side stay reproducible.
    mixed = [
        b
        for t in TOOL_TASKS[:40]
        for b in (body("chat", "gpt-4o-nano", t), body("chat", "gpt-4o-mini", t))
    ]
    with Simulator(cfg, seed=5, sim_start=OFF_PEAK) as s:
        rs = asyncio.run(many(s.base_url + PATHS["chat"], mixed, 1))
    assert [(r.headers["x-sim-outcome"], *answer("chat", r)) for r in rs[::2]] == first


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("model", MODELS)
def test_tool_outcomes_follow_the_preset_and_match_the_validators(
    sim: Simulator, api: str, model: str
) -> None:
    tasks = TOOL_TASKS * 2
    rs = _run(sim, api, [body(api, model, t) for t in tasks])
    b = PRESETS[model].agent
    assert b is not None
    groups: dict[str, Counter[str]] = {"clear": Counter(), "overlap": Counter(), "under": Counter()}
    for task, r in zip(tasks, rs, strict=True):
        said = r.headers["x-sim-outcome"]
        assert said == judged(api, task, r), (task.id, r.events)
        assert r.headers["x-sim-task"] in {t.id for t in tasks if t.prompt == task.prompt}
        group = (
            "under"
            if task.underspecified
            else "overlap"
            if task.tools == "overlapping"
            else "clear"
        )
        groups[group][said] += 1
    clear, overlap, under = (groups[g] for g in ("clear", "overlap", "under"))
    n = clear.total()
    _near(clear[WRONG_TOOL] + clear[NO_TOOL_CALL], n, 1 - b.tool_accuracy, f"{model} misses")
    _near(overlap[WRONG_TOOL], overlap.total(), 1 - b.overlap_accuracy, f"{model} overlap")
    _near(under[REFUSAL], under.total(), 1 - b.invents, f"{model} asks back")
    right = n - clear[WRONG_TOOL] - clear[NO_TOOL_CALL]
    rate = 0.0 if api == "messages" else b.invalid_json  # Messages hands input parsed
    _near(clear[INVALID_JSON], right, rate, f"{model} invalid JSON")
    # At least the right tool with none of its slips (nested ones counted on every task,
    # so a lower bound), less four binomial standard errors: not a seed's luck.
    floor = b.tool_accuracy * (
        1 - rate - b.schema_violation - b.nested_violation - b.wrong_arguments
    )
    assert clear[OK] >= n * floor - 4 * math.sqrt(n * floor * (1 - floor)), (model, clear)


@pytest.mark.parametrize("api", APIS)
def test_extractions_match_the_validators_and_haiku_invents_least(sim: Simulator, api: str) -> None:
    under = [t for t in EXTRACTIONS if t.underspecified]
    tasks = EXTRACTIONS + under * 4
    invented = {}
    for model in MODELS:
        rs = _run(sim, api, [body(api, model, t) for t in tasks])
        seen: Counter[str] = Counter()
        for task, r in zip(tasks, rs, strict=True):
            said = r.headers["x-sim-outcome"]
            assert said == judged(api, task, r), (model, task.id, r.events)
            if task.underspecified:
                seen[said] += 1
        invented[model] = seen[WRONG_ARGUMENTS] / seen.total()
    assert invented["claude-3-5-haiku"] < 0.25 < invented["gpt-4o-mini"]


@pytest.mark.parametrize("api", APIS)
def test_agent_steps_advance_with_tool_results_and_the_final_answer_passes(
    sim: Simulator, api: str
) -> None:
    for model in ("gpt-4o-mini", "claude-3-5-haiku"):
        runs = [(t, k) for t in AGENTS for k in range(len(t.steps) + 1)]
        rs = _run(sim, api, [body(api, model, t, k) for t, k in runs])
        finals: Counter[str] = Counter()
        for (task, k), r in zip(runs, rs, strict=True):
            assert r.headers["x-sim-step"] == str(k)
            said = r.headers["x-sim-outcome"]
            if k < len(task.steps):
                assert said == judged(api, task, r, k), (task.id, k, r.events)
                continue
            text, calls = answer(api, r)
            assert not calls
            passes = check_value(text, task.final, task.prompt)
            assert said == (OK if passes else WRONG_ANSWER), (task.id, text)
            finals[said] += 1
        assert finals[OK] > 0


def test_nano_fails_more_the_deeper_the_step(sim: Simulator) -> None:
    runs = [(t, k) for t in AGENTS * 2 for k in range(len(t.steps))]
    rs = _run(sim, "chat", [body("chat", "gpt-4o-nano", t, k) for t, k in runs])
    failed: dict[int, list[bool]] = {}
    for (task, k), r in zip(runs, rs, strict=True):
        assert r.headers["x-sim-outcome"] == judged("chat", task, r, k)
        failed.setdefault(k, []).append(r.headers["x-sim-outcome"] != OK)
    share = {k: sum(v) / len(v) for k, v in failed.items()}
    assert share[0] < 0.35 and share[1] < 0.35  # it holds two steps
    assert share[0] + 0.2 < share[3] < share[5]  # and loses its way after them


def test_unknown_prompts_and_plain_chat_are_unscripted(sim: Simulator) -> None:
    task = TOOL_TASKS[0]
    stranger = body("chat", "gpt-4o-mini", task)
    stranger["messages"] = [{"role": "user", "content": "Something no task says."}]
    plain = {
        "model": "gpt-4o-mini",
        "stream": True,
        "max_tokens": 5,
        "messages": list(task.messages),
    }
    default = body("chat", "default", task)  # a preset without agent behaviour
    stranger_r, plain_r, default_r = _run(sim, "chat", [stranger, plain, default])
    for r in (stranger_r, plain_r, default_r):
        assert r.headers["x-sim-outcome"] == "unscripted"
    assert "x-sim-task" not in stranger_r.headers and "x-sim-task" not in plain_r.headers
    assert default_r.headers["x-sim-task"] == task.id
    _, calls = answer("chat", stranger_r)
    assert len(calls) == 1 and calls[0].name in {t["name"] for t in toolset("five")}


@pytest.mark.parametrize(
    ("api", "turns", "param"),
    [
        ("chat", [{"role": "tool", "tool_call_id": "c1", "content": "{}"}], "messages[1].role"),
        (
            "chat",
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}],
                }
            ],
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            "responses",
            [{"type": "function_call_output", "call_id": "c9", "output": "{}"}],
            "input[1].call_id",
        ),
        (
            "messages",
            [
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "{}"}],
                }
            ],
            "messages[1].content[0].tool_use_id",
        ),
    ],
)
def test_bad_tool_turns_are_400_naming_the_field(
    sim: Simulator, api: str, turns: list[dict[str, Any]], param: str
) -> None:
    b = body(api, "gpt-4o-mini", TOOL_TASKS[0])
    b["input" if api == "responses" else "messages"] += turns
    (r,) = _run(sim, api, [b])
    assert r.status == 400
    err = orjson.loads(r.body)["error"]
    if api == "messages":
        assert err["type"] == "invalid_request_error" and "tool_use_id" in err["message"]
    else:
        assert err["param"] == param


def test_a_config_adds_its_own_task_files(tmp_path: Path) -> None:
    own = tmp_path / "mine.jsonl"
    own.write_text(
        orjson.dumps(
            {
                "id": "mine-1",
                "tools": "five",
                "messages": [{"role": "user", "content": "Ping #oncall about the outage."}],
                "expect": {"tool": "notify", "arguments": {"recipient": {"equals": "#oncall"}}},
            }
        ).decode()
        + "\n"
    )
    cfg = write_config(tmp_path, FAST + '\n[models."gpt-4o-mini".agent]\ntool_accuracy = 1.0\n')
    cfg.write_text('tasks = ["mine.jsonl"]\n' + cfg.read_text())
    task = read_tasks(own)[0]
    with Simulator(cfg, seed=2, sim_start=OFF_PEAK) as s:
        rs = asyncio.run(
            many(s.base_url + PATHS["chat"], [body("chat", "gpt-4o-mini", task)] * 20, 4)
        )
    assert {r.headers["x-sim-task"] for r in rs} == {"mine-1"}
    said = [r.headers["x-sim-outcome"] for r in rs]
    assert said == [judged("chat", task, r) for r in rs]
    assert WRONG_TOOL not in said and said.count(OK) >= 15
