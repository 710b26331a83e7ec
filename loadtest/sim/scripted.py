"""What the simulator answers a known task with: the outcome drawn from the preset's
Behaviour, and an answer the validators judge as that outcome (pure).

A tool or agent task is scripted when the request offers the tool it expects with
tool_choice auto; an extraction when it asks for a json_schema response format (Chat,
Responses) or forces one tool (Messages, whose answer is that tool's input). Anything
else about a known task, and any task on a preset without a Behaviour, is answered as
an unknown prompt is (a random tool, random arguments) and announced unscripted.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from loadtest.sim import answers
from loadtest.sim.behaviour import UNSCRIPTED, Behaviour, Situation, draw, lost_rate, odds
from loadtest.sim.requests import MESSAGES, SimRequest
from loadtest.sim.taskbook import TaskBook
from loadtest.sim.text import split_fragments, text_tokens
from loadtest.tasks import AGENT, EXTRACT, Task
from loadtest.toolsets import SEARCH_KNOWLEDGE_BASE, SEARCH_WEB
from loadtest.validators import (
    INVALID_JSON,
    NO_TOOL_CALL,
    OK,
    REFUSAL,
    SCHEMA_VIOLATION,
    WRONG_ANSWER,
    WRONG_ARGUMENTS,
    WRONG_TOOL,
    Expect,
    check_value,
)

# Tools that overlap in meaning: a confused model calls the other one.
TWINS = {
    SEARCH_WEB["name"]: SEARCH_KNOWLEDGE_BASE["name"],
    SEARCH_KNOWLEDGE_BASE["name"]: SEARCH_WEB["name"],
}


@dataclass(frozen=True)
class Answer:
    """A scripted response: TEXT (tokens: before a tool call, or the whole answer) and
    the tool call, if any, with its arguments' JSON text."""

    text: tuple[str, ...] = ()
    tool: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Script:
    """What the simulator meant: the outcome, the task and step, and the answer (None:
    answer as an unscripted request does)."""

    outcome: str
    task: str
    step: int | None = None  # agent tasks: the tool results in the conversation
    answer: Answer | None = None


def words(text: str) -> tuple[str, ...]:
    """TEXT as tokens of one word each, with its leading space (as text_tokens makes)."""
    return tuple(re.findall(r"\s*\S+", text))


def _around(median: int, rng: random.Random) -> int:
    return max(1, round(rng.lognormvariate(math.log(median), 0.4)))


def script(
    book: TaskBook, b: Behaviour | None, req: SimRequest, rng: random.Random
) -> Script | None:
    """The script for REQ, or None when its first user message is no known task."""
    task = book.find(req.prompt, req.tool_results)
    if task is None:
        return None
    if b is None or req.tool_choice == "none":
        return Script(UNSCRIPTED, task.id)
    if task.kind == EXTRACT:
        return _extraction(task, b, req, rng)
    schemas = {t.name: t.schema for t in req.tools}
    step: int | None = None
    if task.kind == AGENT:
        step = len(req.tool_results)
        if step >= len(task.steps):
            outcome, text = _final(task, b, rng)
            return Script(outcome, task.id, step, Answer(text))
        expect = task.steps[step].expect
    else:
        assert task.expect is not None  # a tool task has one
        expect = task.expect
    if req.tool_choice != "auto" or expect.tool not in schemas:
        return Script(UNSCRIPTED, task.id, step)
    outcome, answer = _tool_call(task, expect, schemas, b, req, rng, 1 + (step or 0))
    return Script(outcome, task.id, step, answer)


def _tool_call(
    task: Task,
    expect: Expect,
    schemas: Mapping[str, Mapping[str, Any]],
    b: Behaviour,
    req: SimRequest,
    rng: random.Random,
    depth: int,
) -> tuple[str, Answer]:
    prompt, schema = task.prompt, schemas[expect.tool]
    good = answers.good_arguments(schema, expect.arguments, prompt, rng)
    twin = TWINS.get(expect.tool)
    situation = Situation(
        step=depth,
        overlap=twin in schemas,
        nested=answers.nests(good),
        underspecified=task.underspecified,
        failable=answers.failable(schema, expect.arguments),
        json_can_break=req.api != MESSAGES,
        alone=len(schemas) == 1,
    )
    outcome = draw(odds(b, situation), rng)
    if outcome == REFUSAL:
        missing = next((n for n, c in expect.arguments.items() if c.get("from_prompt")), "")
        return outcome, Answer(words(_clarification(missing)))
    if outcome == NO_TOOL_CALL:
        return outcome, Answer(words("Here is what I found:") + text_tokens(rng, _around(12, rng)))
    name, args = expect.tool, good
    if outcome == WRONG_TOOL:
        others = [n for n in schemas if n != expect.tool]
        name = twin if twin is not None and twin in schemas else rng.choice(others)
        args = answers.good_arguments(schemas[name], {}, prompt, rng)
    elif outcome == SCHEMA_VIOLATION:
        args = answers.schema_violation(good, schema, rng, nested=situation.nested)
    elif outcome == WRONG_ARGUMENTS:
        if task.underspecified:
            args = answers.invented(good, schema, expect.arguments, prompt, rng)
        else:
            args = answers.wrong_arguments(good, schema, expect.arguments, prompt, rng)
    text = answers.invalid_json(args) if outcome == INVALID_JSON else _dumps(args)
    lead: tuple[str, ...] = ()
    if b.lead_tokens:  # thinks aloud before it calls (Haiku)
        n = _around(b.lead_tokens, rng)
        lead = words(f"I'll use {name} for this.")
        lead += text_tokens(rng, max(0, n - len(lead)))
    return outcome, Answer(lead, name, text)


def _clarification(missing: str) -> str:
    # Asked back in words loadtest.validators counts as a refusal (a clarification).
    what = f"the {missing}" if missing else "what is missing"
    return f"Could you please specify {what}? I would rather ask than guess."


def _final(task: Task, b: Behaviour, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """An agent task's final answer: text that passes the task's `final` check, or, as
    often as a step that deep fails, text that lost the value it must hold."""
    check = task.final
    filler = text_tokens(rng, _around(b.final_tokens, rng))
    if rng.random() < lost_rate(b, len(task.steps) + 1):
        lost = words("All done.") + filler
        if not check_value("".join(lost), check, task.prompt):
            return WRONG_ANSWER, lost
    if "equals" in check:
        return OK, words(str(check["equals"]))
    if "one_of" in check:
        return OK, words(str(rng.choice(list(check["one_of"]))))
    head = f"All done. The answer is {check['contains']}." if "contains" in check else "All done."
    return OK, words(head) + filler


def _extraction(task: Task, b: Behaviour, req: SimRequest, rng: random.Random) -> Script:
    schemas = {t.name: t.schema for t in req.tools}
    if req.api == MESSAGES:
        # The Messages API has no response format: a forced tool's input is the answer.
        schema: Mapping[str, Any] | None = schemas.get(req.tool_choice)
    else:
        schema = req.response_schema
    if schema is None:
        return Script(UNSCRIPTED, task.id)
    prompt, fields = task.prompt, task.fields
    good = answers.good_arguments(schema, fields, prompt, rng)
    situation = Situation(
        extraction=True,
        nested=answers.nests(good),
        underspecified=task.underspecified,
        failable=answers.failable(schema, fields),
        json_can_break=req.api != MESSAGES,
    )
    outcome = draw(odds(b, situation), rng)
    data = good
    if outcome == WRONG_ARGUMENTS:
        if task.underspecified:
            data = answers.invented(good, schema, fields, prompt, rng)
        else:
            data = answers.wrong_arguments(good, schema, fields, prompt, rng)
    elif outcome == SCHEMA_VIOLATION:
        data = answers.schema_violation(good, schema, rng, nested=situation.nested)
    text = answers.invalid_json(data) if outcome == INVALID_JSON else _dumps(data)
    if req.api == MESSAGES:
        return Script(outcome, task.id, None, Answer((), req.tool_choice, text))
    return Script(outcome, task.id, None, Answer(split_fragments(text, rng)))


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
