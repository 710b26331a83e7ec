"""Reading Anthropic Messages streams."""

from __future__ import annotations

from loadtest.providers.reading import (
    OVERLOADED,
    STREAM_ERROR,
    Kind,
    Reading,
    load_object,
)
from loadtest.sse import Event

_DELTA_KINDS = {
    "text_delta": ("text", Kind.TOKEN),
    "input_json_delta": ("partial_json", Kind.TOKEN),
    "thinking_delta": ("thinking", Kind.REASONING),
}


def parse_event(event: Event, r: Reading) -> Kind:
    """Classify one event of a Messages stream, updating R."""
    obj = load_object(event.data, r)
    if obj is None:
        return Kind.ERROR
    kind = obj.get("type")
    if kind == "content_block_delta":
        delta = obj.get("delta") or {}
        field_kind = _DELTA_KINDS.get(delta.get("type", ""))
        if field_kind is None or not delta.get(field_kind[0]):
            return Kind.NONE  # signature_delta, citations, empty deltas
        r.tokens += 1
        if field_kind[1] is Kind.REASONING:
            r.reasoning += 1
        return field_kind[1]
    if kind == "message_start":
        usage = (obj.get("message") or {}).get("usage") or {}
        r.usage_input_tokens = usage.get("input_tokens", r.usage_input_tokens)
        return Kind.NONE
    if kind == "message_delta":
        usage = obj.get("usage") or {}
        r.usage_output_tokens = usage.get("output_tokens", r.usage_output_tokens)
        r.usage_input_tokens = usage.get("input_tokens") or r.usage_input_tokens
        stop = (obj.get("delta") or {}).get("stop_reason")
        if stop:
            r.finish_reason = stop
        return Kind.NONE
    if kind == "message_stop":
        r.done = True
        return Kind.DONE
    if kind == "error":
        err = obj.get("error") or {}
        cls = OVERLOADED if err.get("type") == "overloaded_error" else STREAM_ERROR
        return r.fail(cls, str(err.get("message") or err.get("type") or obj))
    return Kind.NONE  # ping, content_block_start/stop, unknown future events
