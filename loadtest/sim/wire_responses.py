"""OpenAI Responses API wire format: streamed events with sequence numbers, the JSON body."""

from __future__ import annotations

from typing import Any

import orjson

from loadtest.sim.plan import Plan

_dumps = orjson.dumps


def _usage(plan: Plan) -> dict[str, Any]:
    return {
        "input_tokens": plan.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": plan.output_tokens,
        "output_tokens_details": {"reasoning_tokens": len(plan.reasoning)},
        "total_tokens": plan.input_tokens + plan.output_tokens,
    }


def _response(
    plan: Plan,
    model: str,
    ids: str,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    with_usage: bool,
) -> dict[str, Any]:
    incomplete = status == "incomplete"
    return {
        "id": f"resp_{ids}",
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": output,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": None,
        "max_output_tokens": None,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "metadata": {},
        "usage": _usage(plan) if with_usage else None,
    }


def _item(plan: Plan, ids: str, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    text = "".join(plan.content) if done else ""
    if plan.tool is not None:
        return {
            "type": "function_call",
            "id": f"fc_{ids}",
            "call_id": plan.tool.id,
            "name": plan.tool.name,
            "arguments": text,
            "status": status,
        }
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": f"msg_{ids}",
        "status": status,
        "role": "assistant",
        "content": content if done else [],
    }


class ResponsesEncoder:
    """Events for one streamed response. Reasoning is hidden (as OpenAI's API does): its time
    passes with no events, so TTFT includes it."""

    def __init__(self, plan: Plan, model: str, ids: str, created: int) -> None:
        self.plan = plan
        self.model = model
        self.ids = ids
        self.created = created
        self.seq = 0
        self._content = plan.content_events
        self._n_reasoning = len(plan.reasoning_events)
        kind = "function_call_arguments" if plan.tool is not None else "output_text"
        item_id = f"fc_{ids}" if plan.tool is not None else f"msg_{ids}"
        extra = b"" if plan.tool is not None else b',"content_index":0,"logprobs":[]'
        self._delta_name = f"response.{kind}.delta".encode()
        self._delta_head = (
            b'{"type":"'
            + self._delta_name
            + b'","item_id":"'
            + item_id.encode()
            + b'","output_index":0'
            + extra
            + b',"delta":'
        )

    def _ev(self, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self.seq
        self.seq += 1
        kind: str = payload["type"]
        return b"event: " + kind.encode() + b"\ndata: " + _dumps(payload) + b"\n\n"

    def _resp(self, status: str, output: list[dict[str, Any]], with_usage: bool) -> dict[str, Any]:
        return _response(self.plan, self.model, self.ids, self.created, status, output, with_usage)

    def preamble(self) -> bytes:
        """response.created and response.in_progress."""
        return self._ev(
            {"type": "response.created", "response": self._resp("in_progress", [], False)}
        ) + self._ev(
            {"type": "response.in_progress", "response": self._resp("in_progress", [], False)}
        )

    def _open_item(self) -> bytes:
        out = self._ev(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": _item(self.plan, self.ids, False),
            }
        )
        if self.plan.tool is None:
            out += self._ev(
                {
                    "type": "response.content_part.added",
                    "item_id": f"msg_{self.ids}",
                    "output_index": 0,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                }
            )
        return out

    def event(self, i: int) -> bytes:
        """A delta event for content event I; nothing for hidden reasoning."""
        if i < self._n_reasoning:
            return b""
        j = i - self._n_reasoning
        head = self._open_item() if j == 0 else b""
        seq = self.seq
        self.seq += 1
        return (
            head
            + b"event: "
            + self._delta_name
            + b"\ndata: "
            + self._delta_head
            + _dumps(self._content[j])
            + b',"sequence_number":'
            + str(seq).encode()
            + b"}\n\n"
        )

    def finish(self) -> bytes:
        """The .done events and response.completed (or .incomplete) carrying the usage."""
        p, ids = self.plan, self.ids
        full = "".join(p.content)
        out = b"" if p.content else self._open_item()
        if p.tool is not None:
            out += self._ev(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": f"fc_{ids}",
                    "output_index": 0,
                    "name": p.tool.name,
                    "arguments": full,
                }
            )
        else:
            out += self._ev(
                {
                    "type": "response.output_text.done",
                    "item_id": f"msg_{ids}",
                    "output_index": 0,
                    "content_index": 0,
                    "text": full,
                    "logprobs": [],
                }
            )
            out += self._ev(
                {
                    "type": "response.content_part.done",
                    "item_id": f"msg_{ids}",
                    "output_index": 0,
                    "content_index": 0,
                    "part": {
                        "type": "output_text",
                        "text": full,
                        "annotations": [],
                        "logprobs": [],
                    },
                }
            )
        item = _item(p, ids, True)
        out += self._ev({"type": "response.output_item.done", "output_index": 0, "item": item})
        status = "incomplete" if p.finish == "length" else "completed"
        return out + self._ev(
            {"type": f"response.{status}", "response": self._resp(status, [item], True)}
        )

    def error_event(self) -> bytes:
        """An error event in the stream."""
        return self._ev(
            {
                "type": "error",
                "code": "server_error",
                "param": None,
                "message": "The server had an error while processing your request.",
            }
        )

    def malformed(self) -> bytes:
        """A delta event cut off mid-JSON."""
        return b"event: " + self._delta_name + b"\ndata: " + self._delta_head + b'"broken\n\n'

    def ping(self) -> bytes:
        """The Responses API has no keep-alive event."""
        return b""


def body(plan: Plan, model: str, ids: str, created: int) -> bytes:
    """The non-streamed response object."""
    status = "incomplete" if plan.finish == "length" else "completed"
    return _dumps(_response(plan, model, ids, created, status, [_item(plan, ids, True)], True))
