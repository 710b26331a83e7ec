"""Reading OpenAI Chat Completions streams, and those of OpenAI-compatible servers.

The compatible servers differ from OpenAI, and each difference is handled here:
vLLM and DeepSeek send reasoning as `reasoning_content`, newer vLLM and OpenRouter
as `reasoning`; some servers send no `data: [DONE]` (the stream ends after the
finish chunk), some put usage in the finish chunk instead of a separate one, some
send none; vLLM reports a mid-stream failure as {"object": "error", ...} and OpenAI
as {"error": {...}}.
"""

from __future__ import annotations

from typing import Any

from loadtest.providers.reading import STREAM_ERROR, Kind, Reading, load_object
from loadtest.sse import Event


def parse_event(event: Event, r: Reading) -> Kind:
    """Classify one event of a Chat Completions stream, updating R."""
    data = event.data
    if data == b"[DONE]":
        r.done = True
        return Kind.DONE
    obj = load_object(data, r)
    if obj is None:
        return Kind.ERROR
    err = obj.get("error")
    if err is not None or obj.get("object") == "error":
        return r.fail(STREAM_ERROR, _message(err if err is not None else obj))
    usage = obj.get("usage")
    if usage:
        r.usage_output_tokens = usage.get("completion_tokens", r.usage_output_tokens)
        r.usage_input_tokens = usage.get("prompt_tokens", r.usage_input_tokens)
    kind = Kind.NONE
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or _has_arguments(delta):
            kind = Kind.TOKEN
        elif kind is Kind.NONE and (delta.get("reasoning_content") or delta.get("reasoning")):
            kind = Kind.REASONING
        finish = choice.get("finish_reason")
        if finish:
            r.finish_reason = finish
    if kind is not Kind.NONE:
        r.tokens += 1
        if kind is Kind.REASONING:
            r.reasoning += 1
    return kind


def _has_arguments(delta: dict[str, Any]) -> bool:
    calls = delta.get("tool_calls")
    if not calls:
        return False
    return any((c.get("function") or {}).get("arguments") for c in calls)


def _message(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or err)
    return str(err)
