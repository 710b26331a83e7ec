"""Judged workloads (tools, extract): what a task adds to each kind's body, how each
kind's reader assembles the answer, the success interval, the gates and the profile's
checks, and a run against the simulator end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.providers import PARSERS
from loadtest.providers.answer import Answer
from loadtest.providers.build import RequestBuilder
from loadtest.providers.reading import Reading
from loadtest.sim import wire_anthropic, wire_chat, wire_responses
from loadtest.sim.plan import Plan, ToolCall
from loadtest.sim.stream import Encoder
from loadtest.sse import SSEParser
from loadtest.summary_quality import quality_of, wilson
from loadtest.tasks import read_tasks, shipped_task_file
from loadtest.thresholds import evaluate, parse
from loadtest.validators import OK, WRONG_TOOL
from loadtest.workload import PromptSource
from loadtest.workload_spec import Workload

TOOLS_TASK = read_tasks(shipped_task_file("agent-tools"))[0]
EXTRACT_TASK = read_tasks(shipped_task_file("extraction"))[0]


def _body(kind: str, task: Any) -> dict[str, Any]:
    from loadtest.workload import Prompt

    b = RequestBuilder("http://127.0.0.1:1/x", {}, kind, {"model": "m", "stream": True}, {})
    return dict(orjson.loads(b.body(Prompt(task.messages, 64, task=task))))


def test_tools_go_in_each_kinds_own_format() -> None:
    chat = _body("openai", TOOLS_TASK)
    assert chat["tool_choice"] == "auto" and chat["tools"][0]["type"] == "function"
    assert {t["function"]["name"] for t in chat["tools"]} == {
        "search",
        "calculate",
        "fetch_data",
        "write_file",
        "notify",
    }
    assert "parameters" in chat["tools"][0]["function"]
    resp = _body("openai-responses", TOOLS_TASK)
    assert resp["tools"][0]["name"] == "search" and resp["tools"][0]["strict"] is False
    assert resp["input"] == list(TOOLS_TASK.messages)
    claude = _body("anthropic", TOOLS_TASK)
    assert claude["tool_choice"] == {"type": "auto"}
    assert set(claude["tools"][0]) == {"name", "description", "input_schema"}


def test_an_extraction_asks_for_its_schema_strictly_or_through_a_forced_tool() -> None:
    chat = _body("openai-compatible", EXTRACT_TASK)
    fmt = chat["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == EXTRACT_TASK.schema and "tools" not in chat
    resp = _body("openai-responses", EXTRACT_TASK)
    assert resp["text"]["format"]["schema"] == EXTRACT_TASK.schema
    claude = _body("anthropic", EXTRACT_TASK)
    assert claude["tool_choice"] == {"type": "tool", "name": "extract"}
    assert claude["tools"][0]["input_schema"] == EXTRACT_TASK.schema


ARGS = '{"query": "Oslo weekend"}'
FRAGMENTS = ('{"que', 'ry": "Os', "lo week", 'end"}')


def _streams(tool: bool) -> dict[str, bytes]:
    call = ToolCall("call_7", "search", ARGS) if tool else None
    content = FRAGMENTS if tool else ("I can", "not do", " that")
    plan = Plan(0.1, 0.1, (), content, "tool_calls" if tool else "stop", 12, call)
    encs: dict[str, Encoder] = {
        "openai": wire_chat.ChatEncoder(plan, "m", "x", 0, include_usage=True),
        "openai-responses": wire_responses.ResponsesEncoder(plan, "m", "x", 0),
        "anthropic": wire_anthropic.MessagesEncoder(plan, "m", "x"),
    }
    return {
        k: e.preamble() + b"".join(e.event(i) for i in range(plan.events)) + e.finish()
        for k, e in encs.items()
    }


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "anthropic"])
@pytest.mark.parametrize("tool", [True, False], ids=["tool call", "text"])
def test_each_reader_assembles_the_answer(kind: str, tool: bool) -> None:
    parser = SSEParser()
    r = Reading(answer=Answer())
    PARSERS[kind](parser.feed(_streams(tool)[kind]) + parser.close(), r)
    assert r.complete and r.answer is not None
    if tool:
        calls = r.answer.calls
        assert [(c.name, c.arguments) for c in calls] == [("search", ARGS)]
        assert calls[0].id and r.tool_events == len(FRAGMENTS)
    else:
        assert r.answer.text == "I cannot do that" and not r.answer.calls
        assert r.tool_events == 0


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "anthropic"])
def test_a_chat_run_collects_nothing(kind: str) -> None:
    parser = SSEParser()
    r = Reading()
    PARSERS[kind](parser.feed(_streams(True)[kind]) + parser.close(), r)
    assert r.answer is None and r.complete and r.tool_events == len(FRAGMENTS)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # by hand: centre (p + z^2/2n) / (1 + z^2/n), half-width z sqrt(p(1-p)/n +
        # z^2/4n^2) / (1 + z^2/n), z = 1.96
        (91, 100, 0.8377, 0.9519),
        (94, 100, 0.8752, 0.9722),
        (0, 50, 0.0, 0.0713),
        (50, 50, 0.9287, 1.0),
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_the_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5) and hi == pytest.approx(high, abs=5e-5)
    assert lo <= k / n <= hi


def test_the_quality_block_keeps_every_class() -> None:
    q = quality_of({OK: 91, WRONG_TOOL: 7, "invalid_json": 2}, 10.0)
    assert q is not None
    assert (q["judged"], q["succeeded"], q["success_rate"]) == (100, 91, 0.91)
    assert q["successes_per_s"] == 9.1
    assert q["outcomes"]["wrong_tool"] == 7 and q["outcomes"]["refusal"] == 0
    assert "max_steps" not in q["outcomes"]  # no agent task here
    assert quality_of({}, 10.0) is None


def _summary_with(quality: dict[str, Any] | None) -> dict[str, Any]:
    t: dict[str, Any] = {"requests": {"recorded": 1}, "rates": {}, "errors": {}, "metrics": {}}
    if quality is not None:
        t["quality"] = quality
    return {"a": t}


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("success.rate >= 90%", True),
        ("success.rate >= 0.92", False),
        ("success.lower >= 0.85", False),
        ("success.lower >= 0.8", True),
    ],
)
def test_success_gates(expr: str, ok: bool) -> None:
    q = quality_of({OK: 91, WRONG_TOOL: 9}, 1.0)
    [result] = evaluate([parse(expr)], _summary_with(dict(q or {})))
    assert result["ok"] is ok


def test_a_success_gate_on_a_chat_run_fails_and_says_why() -> None:
    [result] = evaluate([parse("success.rate > 0.5")], _summary_with(None))
    assert not result["ok"] and "no judged answers" in result.get("note", "")


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("success.rate > 90", "a fraction (0.9) or a percentage"),
        ("success.p95 > 1", "success.rate"),
    ],
)
def test_bad_success_gates_say_what_is_wrong(expr: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse(expr)


def _write(tmp: Path, workload: str) -> Path:
    p = tmp / "p.toml"
    p.write_text(
        f"[workload]\n{workload}\n\n[[targets]]\nname = 'a'\nkind = 'openai'\n"
        "model = 'gpt-4o-mini'\nbase_url = 'sim'\n"
    )
    return p


@pytest.mark.parametrize(
    ("workload", "says"),
    [
        ('kind = "tools"\ntasks = "nope.jsonl"', "workload.tasks: expected a shipped task file"),
        ('tasks = "agent-tools"', "workload.tasks: expected a workload kind that reads tasks"),
        ('kind = "extract"\ntasks = "agent-tools"', "a tools task (it has 'expect') in a"),
        ('kind = "tools"\nprompts_file = "x.jsonl"', "no prompts_file in a tools workload"),
        ('kind = "poetry"', "workload.kind: expected one of chat, tools, extract, agent"),
    ],
)
def test_workload_mistakes_are_one_line(tmp_path: Path, workload: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_profile(_write(tmp_path, workload))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_kind_finds_its_shipped_file_and_a_path_is_the_profiles(tmp_path: Path) -> None:
    w = load_profile(_write(tmp_path, 'kind = "extract"')).workload
    assert w.tasks == str(shipped_task_file("extraction"))
    own = tmp_path / "mine.jsonl"
    own.write_text(
        json.dumps(
            {
                "id": "x",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": "five",
                "expect": {"tool": "search"},
            }
        )
        + "\n"
    )
    w = load_profile(_write(tmp_path, 'kind = "tools"\ntasks = "mine.jsonl"')).workload
    assert w.tasks == str(own)


def test_prompts_cycle_over_the_tasks_in_a_seeded_order() -> None:
    w = Workload(kind="tools", tasks=str(shipped_task_file("agent-tools")))
    a, b = PromptSource(w, seed=1), PromptSource(w, seed=2)
    first = [a.prompt(i).task for i in range(116)]
    assert len({t.id for t in first if t}) == 116  # each task once per cycle
    assert a.prompt(116).task == first[0]
    assert [t.id for t in first[:5] if t] != [p.task.id for p in map(b.prompt, range(5)) if p.task]
    assert a.prompt(0).messages == first[0].messages if first[0] else False


def test_a_target_takes_a_workload_of_its_own_over_the_profiles(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text(
        "[workload]\nkind = 'extract'\noutput_tokens = 99\n"
        "[[targets]]\nname = 'a'\nkind = 'openai'\nmodel = 'gpt-4o-mini'\nbase_url = 'sim'\n"
        "[[targets]]\nname = 'b'\nkind = 'anthropic'\nmodel = 'claude-3-5-haiku'\n"
        "base_url = 'sim'\nworkload = { kind = 'tools' }\n"
    )
    prof = load_profile(p)
    a, b = prof.targets
    assert prof.workload_of(a).kind == "extract" and a.workload is None
    wb = prof.workload_of(b)  # its keys over the profile's: the output length stays
    assert (wb.kind, wb.tasks, wb.output_tokens.mean) == (
        "tools",
        str(shipped_task_file("agent-tools")),
        99,
    )
    from loadtest.workload import prompt_source

    src = prompt_source(prof)
    pa, pb = src.prompt(0, "a"), src.prompt(0, "b")
    assert pa.task is not None and pa.task.kind == "extract"
    assert pb.task is not None and pb.task.kind == "tools"
    assert src.lengths.method_of("a") == src.lengths.method_of("b") == "task file"


def test_a_targets_own_workload_mistake_names_the_target(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text(
        "[[targets]]\nname = 'b'\nkind = 'openai'\nmodel = 'm'\nbase_url = 'sim'\n"
        "workload = { kind = 'tools', tasks = 'nope.jsonl' }\n"
    )
    with pytest.raises(ConfigError, match=r"targets\[0\]\.workload\.tasks: expected a shipped"):
        load_profile(p)


@pytest.mark.parametrize("name", ["agent-tools", "overlapping-tools", "extraction", "agent-tasks"])
def test_the_shipped_agent_profiles_load(name: str) -> None:
    p = load_profile(Path(__file__).resolve().parent.parent / "profiles" / f"{name}.toml")
    kinds = {p.workload_of(t).kind for t in p.targets}
    assert kinds <= {"tools", "extract", "agent"} and all(p.workload_of(t).tasks for t in p.targets)
    if name == "agent-tasks":  # Haiku as gpt-4o-mini's fallback, 500 ms tools
        mini = p.targets[0]
        assert mini.retry.fallback == ("claude-3-5-haiku",) and mini.retry.attempts == 3
        assert p.workload.tool_latency.mean == 500
