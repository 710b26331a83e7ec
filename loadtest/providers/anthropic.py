"""Anthropic Messages API (kind "anthropic"): requests and stream reading."""

from __future__ import annotations

from loadtest.errors import ErrorClass
from loadtest.providers.base import Provider, SplitSystemBody, Supports
from loadtest.providers.reading import Reading, Shape, count, load_objects, wrong_shape
from loadtest.providers.tool_shapes import AnthropicTools
from loadtest.sse import Event

# Delta types that carry generated output: the field holding it, and whether it is reasoning.
DELTA_FIELDS = {
    "text_delta": ("text", False),
    "input_json_delta": ("partial_json", False),
    "thinking_delta": ("thinking", True),
}


def parse_events(events: list[Event], r: Reading) -> None:
    """Read the events of one network read into R, in order; stop at an error."""
    objs = load_objects(events, r)
    i = 0
    try:
        for i, obj in enumerate(objs):  # noqa: B007 (i names the event, in the except)
            if obj is None:
                return
            kind = obj.get("type")
            if kind == "content_block_delta":
                delta = obj.get("delta") or {}
                field = DELTA_FIELDS.get(delta.get("type", ""))
                # signature_delta, citations and empty deltas are not output
                if field is not None and delta.get(field[0]):
                    r.events += 1
                    r.reasoning_events += field[1]
                    r.tool_events += field[0] == "partial_json"
                    if r.answer is not None:
                        r.answer.anthropic_event(kind, obj)
            elif kind == "content_block_start":
                if r.answer is not None:
                    r.answer.anthropic_event(kind, obj)
            elif kind == "message_start":
                usage = (obj.get("message") or {}).get("usage") or {}
                r.usage_input_tokens = count(usage.get("input_tokens", r.usage_input_tokens))
                # Anthropic counts cache reads apart from input_tokens; loadtest's input
                # is every prompt token, as OpenAI's is, with the cached share beside it.
                cached = count(usage.get("cache_read_input_tokens")) or 0
                if cached:
                    r.usage_cached_tokens = cached
                    r.usage_input_tokens = (r.usage_input_tokens or 0) + cached
            elif kind == "message_delta":
                usage = obj.get("usage") or {}
                r.usage_output_tokens = count(usage.get("output_tokens", r.usage_output_tokens))
                r.usage_input_tokens = count(usage.get("input_tokens")) or r.usage_input_tokens
                stop = (obj.get("delta") or {}).get("stop_reason")
                if stop:
                    r.finish_reason = stop
            elif kind == "message_stop":
                r.done = True
            elif kind == "error":
                err = obj.get("error") or {}
                overloaded = err.get("type") == "overloaded_error"
                cls = ErrorClass.OVERLOADED if overloaded else ErrorClass.STREAM_ERROR
                r.fail(cls, str(err.get("message") or err.get("type") or obj))
                return
            # ping, content_block_stop and unknown future events change nothing
    except (TypeError, AttributeError, KeyError) as exc:  # valid JSON of the wrong shape
        wrong_shape(r, exc, events[i].data, _SHAPE)


# The fields the reader goes into (see reading.Shape).
_SHAPE: Shape = {
    "delta": {"type": str},
    "message": {"usage": {"input_tokens": int, "cache_read_input_tokens": int}},
    "usage": {"output_tokens": int, "input_tokens": int},
    "error": {},
}


API_VERSION = "2023-06-01"  # the anthropic-version header every request must carry


def _auth(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": API_VERSION}


PROVIDER = Provider(
    kind="anthropic",
    path="/v1/messages",  # the base URL has no /v1, as the SDK's has none
    key_env="ANTHROPIC_API_KEY",
    base_url_env="ANTHROPIC_BASE_URL",
    default_base_url="https://api.anthropic.com",
    auth=_auth,
    shape=SplitSystemBody(messages="messages", system="system", max_tokens="max_tokens"),
    parse_events=parse_events,
    agentic=AnthropicTools(),
    # usage comes with message_start and message_delta, unasked; JSON output is got
    # through a forced tool call, not a response format field
    supports=Supports(
        tools=True,
        structured_output=False,
        reasoning=True,
        usage_in_stream=True,
        stream_options=False,
        ignore_eos=False,
    ),
    sim_prefix="",
)
