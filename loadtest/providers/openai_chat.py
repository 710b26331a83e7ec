"""OpenAI Chat Completions (kind "openai"); its reader also reads OpenAI-compatible servers.

The compatible servers differ from OpenAI, and each difference is handled here:
vLLM and DeepSeek send reasoning as `reasoning_content`, newer vLLM and OpenRouter
as `reasoning`; some servers send no `data: [DONE]` (the stream ends after the
finish chunk), some put usage in the finish chunk instead of a separate one, some
send none; vLLM reports a mid-stream failure as {"object": "error", ...} and OpenAI
as {"error": {...}}.
"""

from __future__ import annotations

from typing import Any

from loadtest.errors import ErrorClass
from loadtest.providers.base import ChatBody, Provider, Supports, bearer
from loadtest.providers.reading import DONE, Reading, Shape, count, load_objects, wrong_shape
from loadtest.sse import Event


def parse_events(events: list[Event], r: Reading) -> None:
    """Read the events of one network read into R, in order; stop at an error.

    One call per read, not per event: this loop is the client's hottest code."""
    objs = load_objects(events, r, done=True)
    i = 0
    try:
        for i, obj in enumerate(objs):  # noqa: B007 (i names the event, in the except)
            if obj is DONE:
                r.done = True
                continue
            if obj is None:
                return
            choices = obj.get("choices")
            if choices:
                for choice in choices:
                    delta = choice.get("delta")
                    if delta:
                        if delta.get("content"):
                            r.events += 1
                        elif _has_arguments(delta):
                            r.events += 1
                            r.tool_events += 1
                        elif delta.get("reasoning_content") or delta.get("reasoning"):
                            r.events += 1
                            r.reasoning_events += 1
                        if r.answer is not None:
                            r.answer.chat_delta(delta)
                    finish = choice.get("finish_reason")
                    if finish:
                        r.finish_reason = finish
            else:
                err = obj.get("error")
                if err is not None or obj.get("object") == "error":
                    r.fail(ErrorClass.STREAM_ERROR, _message(err if err is not None else obj))
                    return
            usage = obj.get("usage")
            if usage:
                out = usage.get("completion_tokens", r.usage_output_tokens)
                r.usage_output_tokens = count(out)
                r.usage_input_tokens = count(usage.get("prompt_tokens", r.usage_input_tokens))
                details = usage.get("prompt_tokens_details")
                if details:
                    r.usage_cached_tokens = count(details.get("cached_tokens")) or 0
    except (TypeError, AttributeError, KeyError) as exc:  # valid JSON of the wrong shape
        wrong_shape(r, exc, events[i].data, _SHAPE)


# The fields the reader goes into (see reading.Shape); `error` may be anything.
_SHAPE: Shape = {
    "choices": [{"delta": {"tool_calls": [{"function": {}}]}}],
    "usage": {
        "completion_tokens": int,
        "prompt_tokens": int,
        "prompt_tokens_details": {"cached_tokens": int},
    },
}


def _has_arguments(delta: dict[str, Any]) -> bool:
    calls = delta.get("tool_calls")
    if not calls:
        return False
    return any((c.get("function") or {}).get("arguments") for c in calls)


def _message(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or err)
    return str(err)


PROVIDER = Provider(
    kind="openai",
    path="/chat/completions",
    key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    default_base_url="https://api.openai.com/v1",
    auth=bearer,
    # max_tokens is deprecated there, and refused by reasoning models
    shape=ChatBody(max_tokens="max_completion_tokens"),
    parse_events=parse_events,
    # OpenAI's Chat Completions streams no reasoning text (only a count in the usage)
    supports=Supports(
        tools=True,
        structured_output=True,
        reasoning=False,
        usage_in_stream=True,
        stream_options=True,
        ignore_eos=False,
    ),
)
