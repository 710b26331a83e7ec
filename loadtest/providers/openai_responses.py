"""Reading OpenAI Responses API streams."""

from __future__ import annotations

from loadtest.providers.reading import STREAM_ERROR, Kind, Reading, load_object
from loadtest.sse import Event

_TOKEN_EVENTS = {
    "response.output_text.delta": Kind.TOKEN,
    "response.function_call_arguments.delta": Kind.TOKEN,
    "response.refusal.delta": Kind.TOKEN,
    "response.reasoning_text.delta": Kind.REASONING,
    "response.reasoning_summary_text.delta": Kind.REASONING,
}
_TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete"}


def parse_event(event: Event, r: Reading) -> Kind:
    """Classify one event of a Responses stream, updating R."""
    obj = load_object(event.data, r)
    if obj is None:
        return Kind.ERROR
    kind = obj.get("type", "")
    token_kind = _TOKEN_EVENTS.get(kind)
    if token_kind is not None:
        if not obj.get("delta"):
            return Kind.NONE
        r.tokens += 1
        if token_kind is Kind.REASONING:
            r.reasoning += 1
        return token_kind
    if kind in _TERMINAL:
        response = obj.get("response") or {}
        usage = response.get("usage") or {}
        r.usage_output_tokens = usage.get("output_tokens", r.usage_output_tokens)
        r.usage_input_tokens = usage.get("input_tokens", r.usage_input_tokens)
        details = response.get("incomplete_details") or {}
        r.finish_reason = details.get("reason") or _TERMINAL[kind]
        r.done = True
        return Kind.DONE
    if kind in ("error", "response.failed"):
        err = (obj.get("response") or {}).get("error") or obj
        return r.fail(STREAM_ERROR, str(err.get("message") or err.get("code") or kind))
    return Kind.NONE
