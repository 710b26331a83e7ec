"""Whether an answer did its task, as tables of cases per outcome class, and the shipped
task files (at least 100 tasks, some underspecified) read and checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.config_reader import ConfigError
from loadtest.tasks import read_tasks
from loadtest.toolsets import TOOLSETS, toolset
from loadtest.validators import (
    INVALID_JSON,
    NO_TOOL_CALL,
    OK,
    REFUSAL,
    SCHEMA_VIOLATION,
    WRONG_ARGUMENTS,
    WRONG_TOOL,
    Expect,
    ToolCall,
    judge_extraction,
    judge_tool_call,
)

TASKS = Path(__file__).resolve().parent.parent / "profiles" / "tasks"
SCHEMAS = {t["name"]: t["parameters"] for t in toolset("five")}
NOTIFY = Expect("notify", {"recipient": {"equals": "#ops"}})
ASKED = "Tell #ops that the deploy finished."


@pytest.mark.parametrize(
    ("calls", "text", "expect", "prompt", "outcome"),
    [
        ([ToolCall("notify", '{"recipient": "#ops", "message": "done"}')], "", NOTIFY, ASKED, OK),
        ([ToolCall("notify", '{"recipient":"#ops","message":"done"}')], "sure", NOTIFY, ASKED, OK),
        ([], "The deploy finished.", NOTIFY, ASKED, NO_TOOL_CALL),
        ([], "I can't send messages.", NOTIFY, ASKED, REFUSAL),
        ([], "Could you clarify who should get it?", NOTIFY, ASKED, REFUSAL),
        ([ToolCall("search", '{"query": "deploy"}')], "", NOTIFY, ASKED, WRONG_TOOL),
        (
            [ToolCall("notify", '{"recipient": "#ops", "message": ')],
            "",
            NOTIFY,
            ASKED,
            INVALID_JSON,
        ),
        ([ToolCall("notify", '["#ops"]')], "", NOTIFY, ASKED, INVALID_JSON),
        ([ToolCall("notify", '{"recipient": "#ops"}')], "", NOTIFY, ASKED, SCHEMA_VIOLATION),
        (
            [ToolCall("notify", '{"recipient": "#ops", "message": "x", "cc": "me"}')],
            "",
            NOTIFY,
            ASKED,
            SCHEMA_VIOLATION,  # an argument the schema does not have
        ),
        (
            [ToolCall("notify", '{"recipient": "#ops", "message": "x", "urgency": "asap"}')],
            "",
            NOTIFY,
            ASKED,
            SCHEMA_VIOLATION,  # outside the enum
        ),
        (
            [ToolCall("notify", '{"recipient": "#dev", "message": "x"}')],
            "",
            NOTIFY,
            ASKED,
            WRONG_ARGUMENTS,
        ),
        (
            [ToolCall("notify", '{"recipient": "team@example.com", "message": "x"}')],
            "",
            Expect("notify", {"recipient": {"from_prompt": True}}),
            "Send the quarterly summary to the team.",
            WRONG_ARGUMENTS,  # an invented recipient
        ),
        (
            [ToolCall("calculate", '{"expression": "309 * 13 + 334"}')],
            "",
            Expect("calculate", {"expression": {"contains": "309"}}),
            "What is 309 times 13 plus 334?",
            OK,
        ),
        (
            [ToolCall("fetch_data", '{"dataset": "orders", "limit": 50}')],
            "",
            Expect(
                "fetch_data",
                {"dataset": {"one_of": ["orders", "invoices"]}, "filters": {"absent": True}},
            ),
            "",
            OK,
        ),
        (
            [ToolCall("fetch_data", '{"dataset": "orders", "limit": 5000}')],
            "",
            Expect("fetch_data"),
            "",
            SCHEMA_VIOLATION,  # past the maximum
        ),
        ([ToolCall("search", "")], "", Expect("search"), "", SCHEMA_VIOLATION),  # no query
    ],
)
def test_a_tool_call_is_judged(
    calls: list[ToolCall], text: str, expect: Expect, prompt: str, outcome: str
) -> None:
    assert judge_tool_call(expect, SCHEMAS, calls, text, prompt) == outcome


INVOICE = {
    "type": "object",
    "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}},
    "required": ["vendor", "total"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ('{"vendor": "Acme", "total": 1250.5}', OK),
        ('{"vendor": "Acme", "total": "1250.5"}', SCHEMA_VIOLATION),
        ('{"vendor": "Acme"}', SCHEMA_VIOLATION),
        ('{"vendor": "Acme", "total": 999}', WRONG_ARGUMENTS),
        ('{"vendor": "Acme", "total": 1250.5', INVALID_JSON),
        ("I cannot find a total in this document.", REFUSAL),
    ],
)
def test_an_extraction_is_judged(text: str, outcome: str) -> None:
    expected: dict[str, dict[str, object]] = {
        "vendor": {"equals": "Acme"},
        "total": {"close_to": [1250.5, 0.01]},
    }
    assert judge_extraction(INVOICE, expected, text, "Invoice from Acme, total 1,250.50") == outcome


@pytest.mark.parametrize("name", ["agent-tools.jsonl", "overlapping-tools.jsonl"])
def test_the_shipped_task_files_load_and_say_what_they_expect(name: str) -> None:
    tasks = read_tasks(TASKS / name)
    assert len(tasks) >= 100 and len({t.id for t in tasks}) == len(tasks)
    expects = [t.expect for t in tasks if t.expect is not None]
    assert len(expects) == len(tasks)  # every one a tool task
    tools = {e.tool for e in expects}
    assert tools == {x["name"] for x in TOOLSETS[tasks[0].tools]} - (
        {"calculate", "fetch_data", "write_file", "notify"} if name.startswith("overlap") else set()
    )
    under = [t for t in tasks if t.underspecified]
    if name == "agent-tools.jsonl":
        assert len(under) >= 10
        for t in under:  # what they leave out must come from the prompt: invented fails
            assert t.expect is not None
            assert any(c.get("from_prompt") for c in t.expect.arguments.values())


def _line(tools: str = "five", messages: object = None, expect: object = None) -> str:
    """A task line with one part changed."""
    obj = {
        "id": "a",
        "tools": tools,
        "messages": [{"role": "user", "content": "hi"}] if messages is None else messages,
        "expect": {"tool": "search"} if expect is None else expect,
    }
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", ":1: not a JSON object"),
        (_line(tools="six"), "tools: expected one of five, overlapping"),
        (_line(messages=[]), "messages: expected"),
        (_line(expect={"tool": "search_web"}), "expect.tool: 'search_web' is not in the 'five'"),
        (
            _line(expect={"tool": "search", "arguments": {"query": {"resembles": "x"}}}),
            "expect.arguments.query: expected checks among",
        ),
    ],
)
def test_a_task_file_mistake_is_one_line(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as err:
        read_tasks(path)
    assert says in str(err.value) and "\n" not in str(err.value)
    json.dumps(str(err.value))  # printable as one line of JSON too


@pytest.mark.parametrize(
    ("name", "kind", "n", "under"),
    [("extraction.jsonl", "extract", 100, 10), ("agent-tasks.jsonl", "agent", 70, 0)],
)
def test_the_other_shipped_task_files(name: str, kind: str, n: int, under: int) -> None:
    tasks = read_tasks(TASKS / name, kind)
    assert len(tasks) == n and sum(t.underspecified for t in tasks) == under
    if kind == "agent":  # from one step to seven, each with its scripted result
        assert {len(t.steps) for t in tasks} == set(range(1, 8))
        assert all(s.result is not None and t.final for t in tasks for s in t.steps)
    else:
        assert all(t.schema and t.fields for t in tasks)


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        ({"expect": {"tool": "search"}, "schema": {}}, "got 'expect' and 'schema'"),
        ({}, "got none"),
        ({"schema": {"type": 5}}, "schema: not a valid JSON schema"),
        ({"tools": "five", "steps": []}, "steps: expected"),
        ({"tools": "five", "steps": [{"expect": {"tool": "search"}}]}, "steps[0]: expected"),
        (
            {"tools": "five", "steps": [{"expect": {"tool": "fly"}, "result": 1}]},
            "steps[0].expect.tool",
        ),
        ({"schema": {"type": "object"}, "fields": {"a": {"near": 1}}}, "fields.a: expected checks"),
    ],
)
def test_task_kinds_mistakes_are_one_line(
    tmp_path: Path, obj: dict[str, object], says: str
) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"id": "a", "messages": [{"role": "user", "content": "x"}], **obj}))
    with pytest.raises(ConfigError) as err:
        read_tasks(f)
    assert says in str(err.value) and ":1:" in str(err.value)
