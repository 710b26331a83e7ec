"""The tasks the simulator knows: the shipped task files and those a simulator config
adds, found by the text of a conversation's first user message."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from loadtest.sim.conversation import content_text
from loadtest.tasks import SHIPPED, Task, read_tasks, shipped_task_file


def first_user_text(messages: Iterable[dict[str, Any]]) -> str:
    """The text of the first user message (what a request is matched by)."""
    return next((content_text(m.get("content")) for m in messages if m["role"] == "user"), "")


def _parsed(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


class TaskBook:
    """Tasks by their first user message's text; the first file read wins a tie."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self._by_prompt: dict[str, list[Task]] = {}
        for t in tasks:
            self._by_prompt.setdefault(first_user_text(t.messages), []).append(t)

    @classmethod
    def load(cls, extra: Sequence[str | Path] = ()) -> TaskBook:
        """The shipped task files, then EXTRA (paths); ConfigError names a bad line."""
        paths = [shipped_task_file(n) for n in SHIPPED] + [Path(p) for p in extra]
        return cls(t for p in paths for t in read_tasks(p))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_prompt.values())

    def find(self, prompt: str, results: Sequence[str] = ()) -> Task | None:
        """The task whose first user message is PROMPT. Agent tasks can share a prompt
        and differ in their scripted results (and so in later steps): the one whose
        results match the conversation's RESULTS so far is taken, else the first."""
        found = self._by_prompt.get(prompt)
        if not found:
            return None
        if len(found) == 1 or not results:
            return found[0]
        seen = [_parsed(r) for r in results]
        for t in found:
            if [s.result for s in t.steps[: len(seen)]] == seen:
                return t
        return found[0]
