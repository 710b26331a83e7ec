"""Whether an answer did the task: the outcome of a successful HTTP request, kept apart
from the transport's error classes. A tool call is judged against the task's expected
tool and argument checks and the tool's JSON schema (the `jsonschema` package, not a
validator of our own); an extraction against its schema and expected fields (pure).

Outcomes: ok, or the first failure found, in this order: refusal (no call, and the
text declines or asks for what is missing), no_tool_call, wrong_tool, invalid_json,
schema_violation, wrong_arguments (a check failed, an invented value included: a value
the task says must come from the prompt that does not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

OK = "ok"
REFUSAL = "refusal"
NO_TOOL_CALL = "no_tool_call"
WRONG_TOOL = "wrong_tool"
INVALID_JSON = "invalid_json"
SCHEMA_VIOLATION = "schema_violation"
WRONG_ARGUMENTS = "wrong_arguments"
MAX_STEPS = "max_steps"  # an agent task that ran out of steps (judged by the task loop)
WRONG_ANSWER = "wrong_answer"  # an agent task's final answer failed its check
OUTCOMES = (
    OK,
    REFUSAL,
    NO_TOOL_CALL,
    WRONG_TOOL,
    INVALID_JSON,
    SCHEMA_VIOLATION,
    WRONG_ARGUMENTS,
    MAX_STEPS,
    WRONG_ANSWER,
)
CHECKS = ("equals", "contains", "one_of", "present", "absent", "from_prompt", "close_to")

# Declining or asking back, in the words models use (a clarification is no wrong call).
_REFUSAL = re.compile(
    r"\b(i can(?:no|')t|i(?: am|'m) (?:unable|not able)|i won't|could you (?:please )?"
    r"(?:clarify|provide|specify|tell me)|please (?:provide|specify|clarify)|which \w+ "
    r"(?:do|would|should) you|what (?:is|are) the (?:\w+ )?(?:recipient|path|name|address))",
    re.IGNORECASE,
)
_MISSING = object()
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Draft202012Validator]] = {}


def _violates(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether VALUE breaks SCHEMA. Validators are kept per schema object (the tool sets'
    and the task files' live as long as the run): building one costs more than using it."""
    held = _VALIDATORS.get(id(schema))
    if held is None or held[0] is not schema:
        held = _VALIDATORS[id(schema)] = (schema, Draft202012Validator(schema))
    return next(held[1].iter_errors(value), None) is not None


@dataclass(frozen=True)
class ToolCall:
    """One tool call as streamed: its name and its arguments' JSON text."""

    name: str
    arguments: str
    id: str = ""  # the provider's call id (an agent's tool result answers it)


@dataclass(frozen=True)
class Expect:
    """What a task asks for: the tool, and a check per argument (see CHECKS)."""

    tool: str
    arguments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def is_refusal(text: str) -> bool:
    """Whether TEXT declines, or asks for what is missing."""
    return _REFUSAL.search(text) is not None


def check_value(value: Any, check: Mapping[str, Any], prompt: str) -> bool:
    """Whether VALUE (_MISSING when the argument is absent) passes CHECK."""
    if "absent" in check:
        return value is _MISSING
    if value is _MISSING:
        return False
    for kind, want in check.items():
        if kind == "equals" and value != want:
            return False
        if kind == "contains" and str(want).lower() not in str(value).lower():
            return False
        if kind == "one_of" and value not in want:
            return False
        if kind == "from_prompt" and want and str(value).lower() not in prompt.lower():
            return False  # invented: the prompt never said it
        if kind == "close_to":
            target, tol = float(want[0]), float(want[1])
            if not isinstance(value, int | float) or abs(value - target) > tol:
                return False
    return True


def judge_tool_call(
    expect: Expect,
    schemas: Mapping[str, Mapping[str, Any]],
    calls: Sequence[ToolCall],
    text: str,
    prompt: str,
) -> str:
    """The outcome of an answer of CALLS (and TEXT) to a task EXPECTing a tool call;
    SCHEMAS: each tool's argument schema; PROMPT: the task's words, for from_prompt."""
    if not calls:
        return REFUSAL if is_refusal(text) else NO_TOOL_CALL
    call = calls[0]
    if call.name != expect.tool:
        return WRONG_TOOL
    try:
        args = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        return INVALID_JSON
    if not isinstance(args, dict):
        return INVALID_JSON
    schema = schemas.get(call.name)
    if schema is not None and _violates(schema, args):
        return SCHEMA_VIOLATION
    for name, check in expect.arguments.items():
        if not check_value(args.get(name, _MISSING), check, prompt):
            return WRONG_ARGUMENTS
    return OK


def judge_extraction(
    schema: Mapping[str, Any], expected: Mapping[str, Mapping[str, Any]], text: str, prompt: str
) -> str:
    """The outcome of an extraction answer TEXT against its JSON SCHEMA and the checks of
    its EXPECTED fields."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return REFUSAL if is_refusal(text) else INVALID_JSON
    if _violates(schema, data):
        return SCHEMA_VIOLATION
    if not isinstance(data, dict):
        return SCHEMA_VIOLATION
    for name, check in expected.items():
        if not check_value(data.get(name, _MISSING), check, prompt):
            return WRONG_ARGUMENTS
    return OK
