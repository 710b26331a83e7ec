"""Validation of the three request bodies into one SimRequest; bad fields raise BadRequest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from loadtest.sim import conversation
from loadtest.sim.conversation import BadRequest as BadRequest
from loadtest.sim.text import count_input_tokens

CHAT = "chat"
RESPONSES = "responses"
MESSAGES = "messages"


@dataclass(frozen=True)
class ToolSpec:
    """A function tool offered in the request."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class SimRequest:
    """What the simulator needs from any of the three APIs."""

    api: str
    model: str
    stream: bool
    max_tokens: int | None
    input_tokens: int
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"  # auto | none | required | the name of one tool
    include_usage: bool = False
    thinking_budget: int | None = None
    ignore_eos: bool = False
    min_tokens: int = 0
    prompt: str = ""  # the first user message's text: what a known task is found by
    tool_results: tuple[str, ...] = ()  # the conversation's tool results, in order
    response_schema: dict[str, Any] | None = None  # a json_schema response format's schema


def parse(api: str, raw: bytes) -> SimRequest:
    """Parse and validate RAW for API (chat, responses or messages)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(None, "We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise BadRequest(None, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model", "'model' is required and must be a non-empty string.")
    stream = _bool(body, "stream", False)
    common = {
        "model": model,
        "stream": stream,
        "ignore_eos": _bool(body, "ignore_eos", False),
        "min_tokens": _int(body, "min_tokens", 0, minimum=0) or 0,
    }
    if api == CHAT:
        return _chat(body, common)
    if api == RESPONSES:
        return _responses(body, common)
    return _messages(body, common)


def _chat(body: dict[str, Any], common: dict[str, Any]) -> SimRequest:
    messages = _messages_list(body, "messages")
    max_tokens = _int(body, "max_completion_tokens", None, minimum=1)
    if max_tokens is None:
        max_tokens = _int(body, "max_tokens", None, minimum=1)
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise BadRequest("stream_options", "'stream_options' must be an object.")
    if opts and not common["stream"]:
        raise BadRequest(
            "stream_options", "'stream_options' is only allowed when 'stream' is true."
        )
    tools = _tools(
        body,
        lambda t: (t.get("function") or {}).get("name"),
        lambda t: (t.get("function") or {}).get("parameters"),
    )
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name") or "required"
    prompt, results = conversation.chat(messages)
    fmt = body.get("response_format")
    schema = None
    if fmt is not None:
        schema = _json_schema(
            fmt,
            "response_format",
            fmt.get("json_schema") if isinstance(fmt, dict) else None,
            ".json_schema",
        )
    return SimRequest(
        CHAT,
        max_tokens=max_tokens,
        input_tokens=count_input_tokens(messages, tools=body.get("tools")),
        tools=tools,
        tool_choice=str(choice),
        include_usage=bool((opts or {}).get("include_usage", False)),
        prompt=prompt,
        tool_results=results,
        response_schema=schema,
        **common,
    )


def _responses(body: dict[str, Any], common: dict[str, Any]) -> SimRequest:
    inp = body.get("input")
    if isinstance(inp, str):
        items: list[Any] = [inp]
    elif isinstance(inp, list) and inp:
        items = inp
    else:
        raise BadRequest("input", "'input' is required: a string or a non-empty array of items.")
    tools = _tools(body, lambda t: t.get("name"), lambda t: t.get("parameters"))
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        choice = choice.get("name") or "required"
    prompt, results = conversation.responses(items)
    text = body.get("text")
    if text is not None and not isinstance(text, dict):
        raise BadRequest("text", "'text' must be an object.")
    fmt = (text or {}).get("format")
    schema = None if fmt is None else _json_schema(fmt, "text.format", fmt, "")
    return SimRequest(
        RESPONSES,
        max_tokens=_int(body, "max_output_tokens", None, minimum=16),
        input_tokens=count_input_tokens(
            items, system=body.get("instructions"), tools=body.get("tools")
        ),
        tools=tools,
        tool_choice=str(choice),
        prompt=prompt,
        tool_results=results,
        response_schema=schema,
        **common,
    )


def _messages(body: dict[str, Any], common: dict[str, Any]) -> SimRequest:
    messages = _messages_list(body, "messages")
    max_tokens = _int(body, "max_tokens", None, minimum=1)
    if max_tokens is None:
        raise BadRequest("max_tokens", "max_tokens: Field required")
    tools = _tools(body, lambda t: t.get("name"), lambda t: t.get("input_schema"))
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
    tool_choice = {"any": "required", "tool": str(choice.get("name", "required"))}.get(kind, kind)
    thinking = body.get("thinking")
    budget = None
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = _int(thinking, "budget_tokens", None, minimum=1024, where="thinking.budget_tokens")
        if budget is None:
            raise BadRequest("thinking.budget_tokens", "thinking.budget_tokens: Field required")
        if budget >= max_tokens:
            raise BadRequest(
                "thinking.budget_tokens",
                "`max_tokens` must be greater than `thinking.budget_tokens`",
            )
    prompt, results = conversation.messages(messages)
    return SimRequest(
        MESSAGES,
        max_tokens=max_tokens,
        prompt=prompt,
        tool_results=results,
        input_tokens=count_input_tokens(
            messages, system=body.get("system"), tools=body.get("tools")
        ),
        tools=tools,
        tool_choice=tool_choice,
        thinking_budget=budget,
        **common,
    )


_FORMATS = ("text", "json_object", "json_schema")


def _json_schema(fmt: Any, where: str, spec: Any, inner: str) -> dict[str, Any] | None:
    """The schema of a json_schema response format (None for text and json_object):
    Chat nests it under json_schema (INNER), Responses puts it in the format itself."""
    if not isinstance(fmt, dict) or fmt.get("type") not in _FORMATS:
        got = fmt.get("type") if isinstance(fmt, dict) else fmt
        raise BadRequest(
            f"{where}.type",
            f"Invalid value: {got!r}. Supported values are: {', '.join(map(repr, _FORMATS))}.",
        )
    if fmt["type"] != "json_schema":
        return None
    if not isinstance(spec, dict):
        raise BadRequest(f"{where}{inner}", f"Missing required parameter: '{where}{inner}'.")
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise BadRequest(
            f"{where}{inner}.name", f"Missing required parameter: '{where}{inner}.name'."
        )
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise BadRequest(
            f"{where}{inner}.schema",
            f"Invalid type for '{where}{inner}.schema': expected an object.",
        )
    return schema


def _messages_list(body: dict[str, Any], key: str) -> list[Any]:
    messages = body.get(key)
    if not isinstance(messages, list) or not messages:
        raise BadRequest(key, f"'{key}' is required and must be a non-empty array.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest(f"{key}[{i}].role", f"'{key}[{i}]' must be an object with a 'role'.")
    return messages


def _tools(body: dict[str, Any], name_of: Any, schema_of: Any) -> tuple[ToolSpec, ...]:
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise BadRequest("tools", "'tools' must be an array.")
    out = []
    for i, t in enumerate(tools):
        name = name_of(t) if isinstance(t, dict) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"tools[{i}].name", f"'tools[{i}]' has no function name.")
        schema = schema_of(t)
        out.append(ToolSpec(name, schema if isinstance(schema, dict) else {}))
    return tuple(out)


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    v = body.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise BadRequest(key, f"'{key}' must be a boolean, got {v!r}.")
    return v


def _int(
    body: dict[str, Any], key: str, default: int | None, *, minimum: int, where: str | None = None
) -> int | None:
    v = body.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        name = where or key
        raise BadRequest(name, f"'{name}' must be an integer >= {minimum}, got {v!r}.")
    return v
