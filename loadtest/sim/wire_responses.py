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


MESSAGE, FUNCTION_CALL = "message", "function_call"


def _kinds(plan: Plan) -> tuple[str, ...]:
    """The output items of PLAN, in order: a message, a function call, or the text a
    model says before its call as a message and then the call."""
    if plan.tool is None:
        return (MESSAGE,)
    return (MESSAGE, FUNCTION_CALL) if plan.lead else (FUNCTION_CALL,)


def _item(plan: Plan, ids: str, kind: str, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    if kind == FUNCTION_CALL:
        assert plan.tool is not None  # only a plan with a tool has this item
        return {
            "type": "function_call",
            "id": f"fc_{ids}",
            "call_id": plan.tool.id,
            "name": plan.tool.name,
            "arguments": "".join(plan.content) if done else "",
            "status": status,
        }
    text = "".join(plan.lead if plan.tool is not None else plan.content) if done else ""
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": f"msg_{ids}",
        "status": status,
        "role": "assistant",
        "content": content if done else [],
    }


def _delta_head(kind: str, ids: str, index: int) -> bytes:
    """The constant start of a delta event's JSON for an item of KIND at INDEX."""
    if kind == FUNCTION_CALL:
        name, item, extra = b"function_call_arguments", f"fc_{ids}", b""
    else:
        name, item, extra = b"output_text", f"msg_{ids}", b',"content_index":0,"logprobs":[]'
    return (
        b'{"type":"response.'
        + name
        + b'.delta","item_id":"'
        + item.encode()
        + b'","output_index":'
        + str(index).encode()
        + extra
        + b',"delta":'
    )


class ResponsesEncoder:
    """Events for one streamed response. Reasoning is hidden (as OpenAI's API does): its time
    passes with no events, so TTFT includes it."""

    def __init__(self, plan: Plan, model: str, ids: str, created: int) -> None:
        self.plan = plan
        self.model = model
        self.ids = ids
        self.created = created
        self.seq = 0
        self._kinds = _kinds(plan)
        self._last = len(self._kinds) - 1
        self._open = -1  # the output item now open
        self._content = plan.content_events
        self._lead = plan.lead_events
        self._n_lead = len(self._lead)
        self._n_reasoning = len(plan.reasoning_events)
        last = self._kinds[-1]
        self._delta_name = (
            b"response.function_call_arguments.delta"
            if last == FUNCTION_CALL
            else b"response.output_text.delta"
        )
        self._delta_head = _delta_head(last, ids, self._last)
        self._lead_head = _delta_head(MESSAGE, ids, 0)

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

    def _open_item(self, index: int) -> bytes:
        kind = self._kinds[index]
        out = self._ev(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": _item(self.plan, self.ids, kind, False),
            }
        )
        if kind == MESSAGE:
            out += self._ev(
                {
                    "type": "response.content_part.added",
                    "item_id": f"msg_{self.ids}",
                    "output_index": index,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                }
            )
        return out

    def _close_item(self, index: int) -> bytes:
        p, ids, kind = self.plan, self.ids, self._kinds[index]
        item = _item(p, ids, kind, True)
        if kind == FUNCTION_CALL:
            out = self._ev(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": f"fc_{ids}",
                    "output_index": index,
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        else:
            part = item["content"][0]
            out = self._ev(
                {
                    "type": "response.output_text.done",
                    "item_id": f"msg_{ids}",
                    "output_index": index,
                    "content_index": 0,
                    "text": part["text"],
                    "logprobs": [],
                }
            )
            out += self._ev(
                {
                    "type": "response.content_part.done",
                    "item_id": f"msg_{ids}",
                    "output_index": index,
                    "content_index": 0,
                    "part": part,
                }
            )
        return out + self._ev(
            {"type": "response.output_item.done", "output_index": index, "item": item}
        )

    def _advance(self, index: int) -> bytes:
        """Close the open item and open the ones up to INDEX."""
        out = b""
        while self._open < index:
            if self._open >= 0:
                out += self._close_item(self._open)
            self._open += 1
            out += self._open_item(self._open)
        return out

    def event(self, i: int) -> bytes:
        """A delta event for content event I; nothing for hidden reasoning."""
        if i < self._n_reasoning:
            return b""
        j = i - self._n_reasoning
        if j < self._n_lead:
            return self._lead_event(j)
        j -= self._n_lead
        head = self._advance(self._last) if j == 0 else b""
        return self._delta(head, self._delta_name, self._delta_head, self._content[j])

    def _lead_event(self, j: int) -> bytes:
        head = self._advance(0) if j == 0 else b""
        return self._delta(head, b"response.output_text.delta", self._lead_head, self._lead[j])

    def _delta(self, head: bytes, name: bytes, data_head: bytes, text: str) -> bytes:
        """One delta event (after HEAD, the events that open its item), numbered."""
        seq = self.seq
        self.seq += 1
        return (
            head
            + b"event: "
            + name
            + b"\ndata: "
            + data_head
            + _dumps(text)
            + b',"sequence_number":'
            + str(seq).encode()
            + b"}\n\n"
        )

    def finish(self) -> bytes:
        """The .done events and response.completed (or .incomplete) carrying the usage."""
        p = self.plan
        out = self._advance(self._last) + self._close_item(self._last)
        items = [_item(p, self.ids, kind, True) for kind in self._kinds]
        status = "incomplete" if p.finish == "length" else "completed"
        return out + self._ev(
            {"type": f"response.{status}", "response": self._resp(status, items, True)}
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
    items = [_item(plan, ids, kind, True) for kind in _kinds(plan)]
    return _dumps(_response(plan, model, ids, created, status, items, True))
