"""Task files (JSONL) for agent-shaped workloads, a line per task, of three kinds, told
apart by the key they carry:

- a tool task (`expect`): its messages, its tool set (loadtest.toolsets), the tool the
  answer must call and checks on its arguments (loadtest.validators);
- an extraction task (`schema`): its messages, the JSON schema the answer must fit and
  checks on the fields it must hold (`fields`);
- an agent task (`steps`): its messages and tool set, then the tool calls it takes in
  order, each with the tool's scripted result (any JSON, sent back as the tool's output),
  and checks on the final answer's text (`final`).

`underspecified`: the task leaves out what the answer needs; inventing it fails, asking
for it is right (loadtest.judging).
Read whole and checked line by line: each mistake is one line naming the file, the line
and the key. Shipped task files are found by name (`shipped_task_file`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.config_reader import ConfigError, Table, jsonl_objects
from loadtest.toolsets import TOOLSETS
from loadtest.validators import CHECKS, Expect

TOOLS = "tools"
EXTRACT = "extract"
AGENT = "agent"
KINDS = (TOOLS, EXTRACT, AGENT)
_KEY_OF = {TOOLS: "expect", EXTRACT: "schema", AGENT: "steps"}
SHIPPED = ("agent-tools", "overlapping-tools", "extraction", "agent-tasks")
CHAT = "chat"
WORKLOAD_KINDS = (CHAT, *KINDS)  # a [workload] kind
DEFAULT_FILE = {TOOLS: "agent-tools", EXTRACT: "extraction", AGENT: "agent-tasks"}


@dataclass(frozen=True)
class Step:
    """One turn of an agent task: the call it expects, and the tool's scripted result."""

    expect: Expect
    result: Any


@dataclass(frozen=True)
class Task:
    """One task of a task file (see the module's docstring for the kinds)."""

    id: str
    kind: str
    messages: tuple[dict[str, Any], ...]
    tools: str = ""  # the tool set's name (tool and agent tasks)
    expect: Expect | None = None  # tool tasks
    schema: Mapping[str, Any] | None = None  # extraction tasks
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # extraction
    steps: tuple[Step, ...] = ()  # agent tasks
    final: Mapping[str, Any] = field(default_factory=dict)  # a check on the final text
    underspecified: bool = False

    @property
    def prompt(self) -> str:
        """The task's own words (its messages' text), for from_prompt checks."""
        return " ".join(str(m.get("content", "")) for m in self.messages)


def shipped_dir() -> Path:
    """The folder of the shipped task files: in the package when installed from a wheel,
    else the checkout's profiles/tasks."""
    here = Path(__file__).resolve().parent
    inside = here / "profiles" / "tasks"
    return inside if inside.is_dir() else here.parent / "profiles" / "tasks"


def shipped_task_file(name: str) -> Path:
    """The shipped task file called NAME (see SHIPPED)."""
    return shipped_dir() / f"{name}.jsonl"


def task_path(spec: str, base_dir: Path | None = None) -> Path:
    """Where the task file SPEC is: a shipped one by name, else a path (relative to
    BASE_DIR, the profile's folder, when given)."""
    if spec in SHIPPED:
        return shipped_task_file(spec)
    p = Path(spec)
    return base_dir / p if base_dir is not None and not p.is_absolute() else p


def judged_tasks(t: Table, kind: str, base_dir: Path) -> str | None:
    """The task file of a [workload] T of KIND, resolved and read once to find its
    mistakes before any request (None for chat, which has none); a ConfigError names the
    key or the file's line."""
    if kind == CHAT:
        if t.has("tasks"):
            raise t.error("tasks", 'a workload kind that reads tasks (kind = "tools", ...)')
        return None
    path = task_path(t.string("tasks", DEFAULT_FILE[kind]), base_dir)
    if not path.is_file():
        raise t.error("tasks", f"a shipped task file ({', '.join(SHIPPED)}) or a file", str(path))
    read_tasks(path, kind)
    return str(path)


def read_tasks(path: str | Path, kind: str | None = None) -> list[Task]:
    """The tasks of the JSONL file at PATH (all of KIND, when given); ConfigError in one
    line on the first mistake."""
    p = Path(path)
    tasks, seen = [], set()
    for n, obj in jsonl_objects(p, "task file"):
        task = _task(obj, f"{p}:{n}")
        if task.id in seen:
            raise ConfigError(f"{p}:{n}: id: {task.id!r} twice")
        if kind is not None and task.kind != kind:
            raise ConfigError(
                f"{p}:{n}: a{'n' if task.kind[0] in 'ae' else ''} {task.kind} task (it has "
                f"{_KEY_OF[task.kind]!r}) in a {kind} workload, which needs {_KEY_OF[kind]!r}"
            )
        seen.add(task.id)
        tasks.append(task)
    if not tasks:
        raise ConfigError(f"{p}: no tasks")
    return tasks


def _task(obj: Any, where: str) -> Task:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    tid, messages = obj.get("id"), obj.get("messages")
    if not isinstance(tid, str) or not tid:
        raise ConfigError(f"{where}: id: expected a string")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        raise ConfigError(f'{where}: messages: expected [{{"role": ..., "content": ...}}, ...]')
    kinds = [k for k in KINDS if _KEY_OF[k] in obj]
    if len(kinds) != 1:
        found = [_KEY_OF[k] for k in kinds]
        raise ConfigError(
            f"{where}: expected one of 'expect' (a tool task), 'schema' (an extraction) or "
            f"'steps' (an agent task), got {' and '.join(map(repr, found)) or 'none'}"
        )
    base: dict[str, Any] = {
        "id": tid,
        "kind": kinds[0],
        "messages": tuple(messages),
        "underspecified": bool(obj.get("underspecified")),
    }
    if kinds[0] == EXTRACT:
        schema, fields = obj["schema"], obj.get("fields", {})
        if not isinstance(schema, dict):
            raise ConfigError(f"{where}: schema: expected a JSON schema (an object)")
        _check_schema(schema, f"{where}: schema")
        return Task(**base, schema=schema, fields=_checks(fields, f"{where}: fields"))
    names = _tool_names(obj.get("tools"), where)
    if kinds[0] == TOOLS:
        expect = _expect(obj["expect"], names, obj["tools"], f"{where}: expect")
        return Task(**base, tools=obj["tools"], expect=expect)
    steps = obj["steps"]
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f'{where}: steps: expected [{{"expect": ..., "result": ...}}, ...]')
    out = []
    for i, s in enumerate(steps):
        if not isinstance(s, dict) or "expect" not in s or "result" not in s:
            raise ConfigError(f'{where}: steps[{i}]: expected {{"expect": ..., "result": ...}}')
        out.append(
            Step(
                _expect(s["expect"], names, obj["tools"], f"{where}: steps[{i}].expect"),
                s["result"],
            )
        )
    final = obj.get("final", {})
    return Task(
        **base, tools=obj["tools"], steps=tuple(out), final=_check(final, f"{where}: final")
    )


def _tool_names(tools: Any, where: str) -> set[str]:
    if tools not in TOOLSETS:
        raise ConfigError(f"{where}: tools: expected one of {', '.join(TOOLSETS)}, got {tools!r}")
    return {t["name"] for t in TOOLSETS[tools]}


def _expect(expect: Any, names: set[str], tools: str, where: str) -> Expect:
    if not isinstance(expect, dict) or not isinstance(expect.get("tool"), str):
        raise ConfigError(f'{where}: expected {{"tool": NAME, "arguments": {{...}}}}')
    if expect["tool"] not in names:
        raise ConfigError(
            f"{where}.tool: {expect['tool']!r} is not in the {tools!r} tools "
            f"({', '.join(sorted(names))})"
        )
    return Expect(expect["tool"], _checks(expect.get("arguments", {}), f"{where}.arguments"))


def _checks(checks: Any, where: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(checks, dict):
        raise ConfigError(f"{where}: expected an object of checks")
    return {name: _check(check, f"{where}.{name}") for name, check in checks.items()}


def _check(check: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(check, dict) or any(k not in CHECKS for k in check):
        raise ConfigError(f"{where}: expected checks among {', '.join(CHECKS)}")
    return check


def _check_schema(schema: dict[str, Any], where: str) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(f"{where}: not a valid JSON schema: {exc.message}") from None
