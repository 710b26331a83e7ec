"""Anthropic Messages wire format: streamed events, the JSON body, error bodies."""

from __future__ import annotations

from typing import Any

import orjson

from loadtest.sim.plan import Plan

_dumps = orjson.dumps

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> bytes:
    """Anthropic's error object: {"type": "error", "error": {type, message}}."""
    kind = ERROR_TYPES.get(status, "api_error")
    return _dumps({"type": "error", "error": {"type": kind, "message": message}})


def _event(name: bytes, payload: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + payload + b"\n\n"


def _usage(plan: Plan, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": plan.input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


class MessagesEncoder:
    """Events for one streamed message: optional thinking block, then a text or tool_use block."""

    def __init__(self, plan: Plan, model: str, ids: str) -> None:
        self.plan = plan
        self.model = model
        self.ids = ids
        self._reasoning = plan.reasoning_events
        self._content = plan.content_events
        self._n_reasoning = len(self._reasoning)
        self._content_index = 1 if plan.reasoning else 0
        self._delta_head = {}
        for index, kind in ((0, b"thinking_delta"), (self._content_index, self._content_kind())):
            self._delta_head[kind] = (
                b'event: content_block_delta\ndata: {"type":"content_block_delta",'
                b'"index":'
                + str(index).encode()
                + b',"delta":{"type":"'
                + kind
                + b'","'
                + _FIELD[kind]
                + b'":'
            )

    def _content_kind(self) -> bytes:
        return b"input_json_delta" if self.plan.tool is not None else b"text_delta"

    def _block_start(self, index: int, reasoning: bool) -> bytes:
        if reasoning:
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif self.plan.tool is not None:
            block = {
                "type": "tool_use",
                "id": f"toolu_{self.ids}",
                "name": self.plan.tool.name,
                "input": {},
            }
        else:
            block = {"type": "text", "text": ""}
        return _event(
            b"content_block_start",
            _dumps({"type": "content_block_start", "index": index, "content_block": block}),
        )

    def preamble(self) -> bytes:
        """message_start, the first content_block_start and a ping, as the API opens a stream."""
        message: dict[str, Any] = {
            "id": f"msg_{self.ids}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(self.plan, 1),
        }
        return (
            _event(b"message_start", _dumps({"type": "message_start", "message": message}))
            + self._block_start(0, bool(self.plan.reasoning))
            + self.ping()
        )

    def event(self, i: int) -> bytes:
        """content_block_delta for event I, closing the thinking block where the content starts."""
        p = self.plan
        if i < self._n_reasoning:
            return self._delta_head[b"thinking_delta"] + _dumps(self._reasoning[i]) + b"}}\n\n"
        j = i - self._n_reasoning
        delta = self._delta_head[self._content_kind()] + _dumps(self._content[j]) + b"}}\n\n"
        if j == 0 and p.reasoning:
            return self._close_thinking() + self._block_start(self._content_index, False) + delta
        return delta

    def _close_thinking(self) -> bytes:
        sig = _dumps(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": f"sig_{self.ids}"},
            }
        )
        return _event(b"content_block_delta", sig) + _event(
            b"content_block_stop", b'{"type":"content_block_stop","index":0}'
        )

    def finish(self) -> bytes:
        """content_block_stop, message_delta with the final usage, message_stop."""
        p = self.plan
        out = b""
        if not p.content and p.reasoning:
            out += self._close_thinking() + self._block_start(self._content_index, False)
        stop = _dumps({"type": "content_block_stop", "index": self._content_index})
        delta = _dumps(
            {
                "type": "message_delta",
                "delta": {"stop_reason": STOP_REASONS[p.finish], "stop_sequence": None},
                "usage": _usage(p, p.output_tokens),
            }
        )
        return (
            out
            + _event(b"content_block_stop", stop)
            + _event(b"message_delta", delta)
            + _event(b"message_stop", b'{"type":"message_stop"}')
        )

    def error_event(self) -> bytes:
        """An in-stream error event (the API sends overloaded_error this way)."""
        return _event(b"error", error_body(529, "Overloaded"))

    def malformed(self) -> bytes:
        """A content_block_delta cut off mid-JSON."""
        return self._delta_head[self._content_kind()] + b'"broken\n\n'

    def ping(self) -> bytes:
        """The keep-alive event."""
        return b'event: ping\ndata: {"type": "ping"}\n\n'


_FIELD = {
    b"thinking_delta": b"thinking",
    b"text_delta": b"text",
    b"input_json_delta": b"partial_json",
}


def body(plan: Plan, model: str, ids: str) -> bytes:
    """The non-streamed message object."""
    content: list[dict[str, Any]] = []
    if plan.reasoning:
        content.append(
            {"type": "thinking", "thinking": "".join(plan.reasoning), "signature": f"sig_{ids}"}
        )
    if plan.tool is not None:
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{ids}",
                "name": plan.tool.name,
                "input": orjson.loads(plan.tool.arguments),
            }
        )
    else:
        content.append({"type": "text", "text": "".join(plan.content)})
    return _dumps(
        {
            "id": f"msg_{ids}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": STOP_REASONS[plan.finish],
            "stop_sequence": None,
            "usage": _usage(plan, plan.output_tokens),
        }
    )
