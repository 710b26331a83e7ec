"""OpenAI Chat Completions wire format: streamed chunks, the JSON body, error bodies."""

from __future__ import annotations

from typing import Any

import orjson

from loadtest.sim.plan import Plan

_dumps = orjson.dumps


def error_body(kind: str, message: str, param: str | None = None, code: str | None = None) -> bytes:
    """OpenAI's error object: {"error": {message, type, param, code}}."""
    return _dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def usage(plan: Plan) -> dict[str, Any]:
    """The usage object for PLAN."""
    return {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": len(plan.reasoning),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class ChatEncoder:
    """Chunks for one streamed completion; the constant JSON around each delta is encoded once."""

    def __init__(self, plan: Plan, model: str, ids: str, created: int, include_usage: bool) -> None:
        self.plan = plan
        self.include_usage = include_usage
        head = _dumps(
            {
                "id": f"chatcmpl-{ids}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_sim",
            }
        )
        self._head = b"data: " + head[:-1] + b',"choices":[{"index":0,"delta":'
        self._tail = (
            b',"logprobs":null,"finish_reason":null}]'
            + (b',"usage":null' if include_usage else b"")
            + b"}\n\n"
        )
        self._usage_head = b"data: " + head[:-1]
        self._reasoning = plan.reasoning_events
        self._content = plan.content_events
        self._n_reasoning = len(self._reasoning)
        self._lead = plan.lead_events
        self._n_lead = len(self._lead)

    def _chunk(self, delta: bytes) -> bytes:
        return self._head + delta + self._tail

    def preamble(self) -> bytes:
        """The role chunk that opens every stream."""
        return self._chunk(b'{"role":"assistant","content":""}')

    def event(self, i: int) -> bytes:
        """Chunk for event I: reasoning text, content text or tool-argument fragments (text
        before a tool call goes as content deltas ahead of its tool_calls deltas)."""
        p = self.plan
        if i < self._n_reasoning:
            return self._chunk(b'{"reasoning_content":' + _dumps(self._reasoning[i]) + b"}")
        j = i - self._n_reasoning
        if p.tool is None:
            return self._chunk(b'{"content":' + _dumps(self._content[j]) + b"}")
        if j < self._n_lead:
            return self._chunk(b'{"content":' + _dumps(self._lead[j]) + b"}")
        j -= self._n_lead
        frag = _dumps(self._content[j])
        if j == 0:
            opening = _dumps(
                {
                    "index": 0,
                    "id": p.tool.id,
                    "type": "function",
                    "function": {"name": p.tool.name, "arguments": ""},
                }
            )
            first = self._chunk(b'{"tool_calls":[' + opening + b"]}")
            return first + self._chunk(
                b'{"tool_calls":[{"index":0,"function":{"arguments":' + frag + b"}}]}"
            )
        return self._chunk(b'{"tool_calls":[{"index":0,"function":{"arguments":' + frag + b"}}]}")

    def finish(self) -> bytes:
        """The finish chunk, the usage chunk when asked for, and [DONE]."""
        out = (
            self._head
            + b"{}"
            + (
                b',"logprobs":null,"finish_reason":"'
                + self.plan.finish.encode()
                + b'"}]'
                + (b',"usage":null' if self.include_usage else b"")
                + b"}\n\n"
            )
        )
        if self.include_usage:
            out += (
                self._usage_head + b',"choices":[],"usage":' + _dumps(usage(self.plan)) + b"}\n\n"
            )
        return out + b"data: [DONE]\n\n"

    def error_event(self) -> bytes:
        """An error object in the stream, as OpenAI sends when generation fails midway."""
        return (
            b"data: "
            + error_body(
                "server_error",
                "The server had an error while processing your request. Sorry about that!",
            )
            + b"\n\n"
        )

    def malformed(self) -> bytes:
        """A chunk cut off mid-JSON."""
        return self._head + b'{"content":"broken\n\n'

    def ping(self) -> bytes:
        """Chat Completions has no keep-alive event."""
        return b""


def body(plan: Plan, model: str, ids: str, created: int) -> bytes:
    """The non-streamed chat.completion object."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if plan.lead:
        message["content"] = "".join(plan.lead)
    if plan.tool is not None:
        message["tool_calls"] = [
            {
                "id": plan.tool.id,
                "type": "function",
                "function": {"name": plan.tool.name, "arguments": "".join(plan.content)},
            }
        ]
    else:
        message["content"] = "".join(plan.content)
    if plan.reasoning:
        message["reasoning_content"] = "".join(plan.reasoning)
    return _dumps(
        {
            "id": f"chatcmpl-{ids}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_sim",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish}
            ],
            "usage": usage(plan),
        }
    )
