"""Task files (JSONL) for tool workloads: a line per task, its messages, its tool set
(loadtest.toolsets), what it expects (a tool and argument checks, loadtest.validators)
and whether it is deliberately underspecified. Read whole and checked line by line:
each mistake is one line naming the file, the line and the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.config_reader import ConfigError, jsonl_objects
from loadtest.toolsets import TOOLSETS
from loadtest.validators import CHECKS, Expect


@dataclass(frozen=True)
class Task:
    """One task of a task file."""

    id: str
    tools: str  # the tool set's name
    messages: tuple[dict[str, Any], ...]
    expect: Expect
    underspecified: bool = False

    @property
    def prompt(self) -> str:
        """The task's own words (its messages' text), for from_prompt checks."""
        return " ".join(str(m.get("content", "")) for m in self.messages)


def read_tasks(path: str | Path) -> list[Task]:
    """The tasks of the JSONL file at PATH; ConfigError in one line on the first mistake."""
    p = Path(path)
    tasks, seen = [], set()
    for n, obj in jsonl_objects(p, "task file"):
        task = _task(obj, f"{p}:{n}")
        if task.id in seen:
            raise ConfigError(f"{p}:{n}: id: {task.id!r} twice")
        seen.add(task.id)
        tasks.append(task)
    if not tasks:
        raise ConfigError(f"{p}: no tasks")
    return tasks


def _task(obj: Any, where: str) -> Task:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    tid, tools, messages, expect = (obj.get(k) for k in ("id", "tools", "messages", "expect"))
    if not isinstance(tid, str) or not tid:
        raise ConfigError(f"{where}: id: expected a string")
    if tools not in TOOLSETS:
        raise ConfigError(f"{where}: tools: expected one of {', '.join(TOOLSETS)}, got {tools!r}")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        raise ConfigError(f'{where}: messages: expected [{{"role": ..., "content": ...}}, ...]')
    if not isinstance(expect, dict) or not isinstance(expect.get("tool"), str):
        raise ConfigError(f'{where}: expect: expected {{"tool": NAME, "arguments": {{...}}}}')
    names = {t["name"] for t in TOOLSETS[tools]}
    if expect["tool"] not in names:
        raise ConfigError(
            f"{where}: expect.tool: {expect['tool']!r} is not in the {tools!r} tools "
            f"({', '.join(sorted(names))})"
        )
    arguments = expect.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ConfigError(f"{where}: expect.arguments: expected an object of checks")
    for arg, check in arguments.items():
        bad = (
            [k for k in check]
            if not isinstance(check, dict)
            else [k for k in check if k not in CHECKS]
        )
        if not isinstance(check, dict) or bad:
            raise ConfigError(
                f"{where}: expect.arguments.{arg}: expected checks among {', '.join(CHECKS)}"
            )
    return Task(
        tid,
        tools,
        tuple(messages),
        Expect(expect["tool"], arguments),
        bool(obj.get("underspecified")),
    )
