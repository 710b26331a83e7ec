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


THINKING, TEXT, TOOL_USE = "thinking", "text", "tool_use"


def _blocks(plan: Plan) -> tuple[str, ...]:
    """The content blocks of PLAN, in order: thinking, the text said before a tool call,
    then the answer (text, or tool_use)."""
    return (
        (THINKING,) * bool(plan.reasoning)
        + (TEXT,) * bool(plan.lead and plan.tool is not None)
        + (TOOL_USE if plan.tool is not None else TEXT,)
    )


class MessagesEncoder:
    """Events for one streamed message: optional thinking block, optional text before a
    tool call, then a text or tool_use block."""

    def __init__(self, plan: Plan, model: str, ids: str) -> None:
        self.plan = plan
        self.model = model
        self.ids = ids
        self._reasoning = plan.reasoning_events
        self._content = plan.content_events
        self._lead = plan.lead_events
        self._n_reasoning = len(self._reasoning)
        self._n_lead = len(self._lead)
        self._kinds = _blocks(plan)
        self._content_index = len(self._kinds) - 1
        self._open = 0  # the block now open: the preamble opens the first
        self._delta_head = {}
        self._lead_head = _delta_head(self._content_index - 1, b"text_delta")
        for index, kind in ((0, b"thinking_delta"), (self._content_index, self._content_kind())):
            self._delta_head[kind] = _delta_head(index, kind)

    def _content_kind(self) -> bytes:
        return b"input_json_delta" if self.plan.tool is not None else b"text_delta"

    def _block_start(self, index: int) -> bytes:
        kind = self._kinds[index]
        if kind == THINKING:
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == TOOL_USE:
            assert self.plan.tool is not None  # only a plan with a tool has this block
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
            + self._block_start(0)
            + self.ping()
        )

    def event(self, i: int) -> bytes:
        """content_block_delta for event I, closing the block before where the next starts."""
        if i < self._n_reasoning:
            return self._delta_head[b"thinking_delta"] + _dumps(self._reasoning[i]) + b"}}\n\n"
        j = i - self._n_reasoning
        if j < self._n_lead:
            head = self._advance(self._content_index - 1) if j == 0 else b""
            return head + self._lead_head + _dumps(self._lead[j]) + b"}}\n\n"
        j -= self._n_lead
        delta = self._delta_head[self._content_kind()] + _dumps(self._content[j]) + b"}}\n\n"
        if j == 0 and self._open < self._content_index:
            return self._advance(self._content_index) + delta
        return delta

    def _advance(self, index: int) -> bytes:
        """Close the open block and start the ones up to INDEX."""
        out = b""
        while self._open < index:
            out += self._close(self._open)
            self._open += 1
            out += self._block_start(self._open)
        return out

    def _close(self, index: int) -> bytes:
        out = b""
        if self._kinds[index] == THINKING:
            sig = {"type": "signature_delta", "signature": f"sig_{self.ids}"}
            out = _event(
                b"content_block_delta",
                _dumps({"type": "content_block_delta", "index": index, "delta": sig}),
            )
        stop = _dumps({"type": "content_block_stop", "index": index})
        return out + _event(b"content_block_stop", stop)

    def finish(self) -> bytes:
        """content_block_stop, message_delta with the final usage, message_stop."""
        p = self.plan
        out = self._advance(self._content_index) + self._close(self._content_index)
        delta = _dumps(
            {
                "type": "message_delta",
                "delta": {"stop_reason": STOP_REASONS[p.finish], "stop_sequence": None},
                "usage": _usage(p, p.output_tokens),
            }
        )
        return (
            out
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


def _delta_head(index: int, kind: bytes) -> bytes:
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta",'
        b'"index":'
        + str(index).encode()
        + b',"delta":{"type":"'
        + kind
        + b'","'
        + _FIELD[kind]
        + b'":'
    )


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
    if plan.lead and plan.tool is not None:
        content.append({"type": "text", "text": "".join(plan.lead)})
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
