"""OpenAI Responses API (kind "openai-responses"): requests and stream reading."""

from __future__ import annotations

from loadtest.errors import ErrorClass
from loadtest.providers.base import Provider, SplitSystemBody, Supports, bearer
from loadtest.providers.reading import Reading, Shape, count, load_objects, wrong_shape
from loadtest.providers.tool_shapes import ResponsesTools
from loadtest.sse import Event

# Delta events that carry generated output; True for reasoning.
TOKEN_EVENTS = {
    "response.output_text.delta": False,
    "response.function_call_arguments.delta": False,
    "response.refusal.delta": False,
    "response.reasoning_text.delta": True,
    "response.reasoning_summary_text.delta": True,
}
_ARGUMENTS = "response.function_call_arguments.delta"
_ITEM_ADDED = "response.output_item.added"
_TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete"}


def parse_events(events: list[Event], r: Reading) -> None:
    """Read the events of one network read into R, in order; stop at an error."""
    objs = load_objects(events, r)
    i = 0
    try:
        for i, obj in enumerate(objs):  # noqa: B007 (i names the event, in the except)
            if obj is None:
                return
            kind = obj.get("type", "")
            reasoning = TOKEN_EVENTS.get(kind)
            if reasoning is not None:
                if obj.get("delta"):
                    r.events += 1
                    r.reasoning_events += reasoning
                    r.tool_events += kind == _ARGUMENTS
                    if r.answer is not None:
                        r.answer.responses_event(kind, obj)
            elif kind == _ITEM_ADDED:
                if r.answer is not None:
                    r.answer.responses_event(kind, obj)
            elif kind in _TERMINAL:
                response = obj.get("response") or {}
                usage = response.get("usage") or {}
                r.usage_output_tokens = count(usage.get("output_tokens", r.usage_output_tokens))
                r.usage_input_tokens = count(usage.get("input_tokens", r.usage_input_tokens))
                details = usage.get("input_tokens_details")
                if details:
                    r.usage_cached_tokens = count(details.get("cached_tokens")) or 0
                details = response.get("incomplete_details") or {}
                r.finish_reason = details.get("reason") or _TERMINAL[kind]
                r.done = True
            elif kind in ("error", "response.failed"):
                err = (obj.get("response") or {}).get("error") or obj
                r.fail(ErrorClass.STREAM_ERROR, str(err.get("message") or err.get("code") or kind))
                return
    except (TypeError, AttributeError, KeyError) as exc:  # valid JSON of the wrong shape
        wrong_shape(r, exc, events[i].data, _SHAPE)


# The fields the reader goes into (see reading.Shape).
_SHAPE: Shape = {
    "type": str,
    "response": {
        "usage": {
            "output_tokens": int,
            "input_tokens": int,
            "input_tokens_details": {"cached_tokens": int},
        },
        "incomplete_details": {},
        "error": {},
    },
}


PROVIDER = Provider(
    kind="openai-responses",
    path="/responses",
    key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    default_base_url="https://api.openai.com/v1",
    auth=bearer,
    # The API refuses max_output_tokens below 16 (a 400), so shorter asks get 16.
    shape=SplitSystemBody(
        messages="input", system="instructions", max_tokens="max_output_tokens", min_max_tokens=16
    ),
    parse_events=parse_events,
    agentic=ResponsesTools(),
    # usage comes with response.completed, unasked
    supports=Supports(
        tools=True,
        structured_output=True,
        reasoning=True,
        usage_in_stream=True,
        stream_options=False,
        ignore_eos=False,
    ),
)
