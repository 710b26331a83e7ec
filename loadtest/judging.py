"""A judged workload's side of a request: what the task adds to the body (its tools or its
output schema, in the target's own format), and the outcome of the answer it got. On an
underspecified tool task, asking for what is missing is the right answer (ok)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from loadtest.providers.answer import Answer
from loadtest.providers.tool_shapes import EXTRACT_TOOL, Agentic
from loadtest.tasks import AGENT, EXTRACT, TOOLS, Task
from loadtest.toolsets import toolset
from loadtest.validators import OK, REFUSAL, judge_extraction, judge_tool_call


@functools.cache
def schemas(tools: str) -> Mapping[str, Mapping[str, Any]]:
    """Each tool of the set TOOLS by name: its arguments' JSON schema."""
    return {t["name"]: t["parameters"] for t in toolset(tools)}


def offer(agentic: Agentic, body: dict[str, Any], task: Task) -> None:
    """Add what TASK offers the model to BODY: its tool set, or its output schema."""
    if task.kind == EXTRACT:
        assert task.schema is not None
        agentic.schema(body, task.schema)
    else:
        agentic.tools(body, toolset(task.tools))


def outcome_of(task: Task | None, answer: Answer | None) -> str | None:
    """The outcome of one request's ANSWER to TASK; None for chat (no task) and for an
    agent task, whose turns agent_loop judges one by one."""
    if task is None or answer is None or task.kind == AGENT:
        return None
    return judge(task, answer)


def judge(task: Task, answer: Answer) -> str:
    """The outcome (loadtest.validators) of ANSWER to a tool or extraction TASK. An
    extraction's JSON is the text, or the forced tool's input (Anthropic)."""
    if task.kind == TOOLS:
        assert task.expect is not None
        outcome = judge_tool_call(
            task.expect, schemas(task.tools), answer.calls, answer.text, task.prompt
        )
        # Asked for what the task left out: what an agent should do (the article's point
        # about Haiku); a call that invents it instead is wrong_arguments.
        return OK if task.underspecified and outcome == REFUSAL else outcome
    forced = [c for c in answer.calls if c.name == EXTRACT_TOOL]
    text = forced[0].arguments if forced else answer.text
    assert task.schema is not None
    return judge_extraction(task.schema, task.fields, text, task.prompt)
