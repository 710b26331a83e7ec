"""What an answer said, kept only for workloads whose answers are judged (tools,
extraction, agent): its text and its tool calls, assembled from the stream's deltas.

Each kind's reader feeds it from its own events (a chat delta, a Responses event, an
Anthropic content block); chat runs carry no Answer and pay one `is None` per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtest.validators import ToolCall


@dataclass(slots=True)
class _Call:
    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Answer:
    """Text and tool calls of one response, in stream order."""

    parts: list[str] = field(default_factory=list)
    _calls: dict[Any, _Call] = field(default_factory=dict)  # by the stream's own index

    @property
    def text(self) -> str:
        """The answer's text (an extraction's JSON, a refusal, a final answer)."""
        return "".join(self.parts)

    @property
    def calls(self) -> list[ToolCall]:
        """The tool calls, with their arguments' JSON text."""
        return [ToolCall(c.name, "".join(c.parts), c.id) for c in self._calls.values()]

    def start(self, index: Any, call_id: str | None, name: str | None) -> None:
        """A tool call at INDEX begins (or its id and name arrive)."""
        c = self._calls.setdefault(index, _Call())
        if call_id:
            c.id = str(call_id)
        if name:
            c.name += str(name)

    def arguments(self, index: Any, fragment: str) -> None:
        """More of the arguments of the call at INDEX."""
        self._calls.setdefault(index, _Call()).parts.append(str(fragment))

    def chat_delta(self, delta: dict[str, Any]) -> None:
        """A Chat Completions delta: content text and tool_calls fragments."""
        text = delta.get("content")
        if text:
            self.parts.append(str(text))
        for c in delta.get("tool_calls") or ():
            index = c.get("index", 0)
            fn = c.get("function") or {}
            self.start(index, c.get("id"), fn.get("name"))
            if fn.get("arguments"):
                self.arguments(index, fn["arguments"])

    def responses_event(self, kind: str, obj: dict[str, Any]) -> None:
        """A Responses stream event: output text, function_call items and their arguments."""
        if kind == "response.output_text.delta":
            self.parts.append(str(obj.get("delta") or ""))
        elif kind == "response.function_call_arguments.delta":
            self.arguments(obj.get("output_index", 0), obj.get("delta") or "")
        elif kind == "response.output_item.added":
            item = obj.get("item") or {}
            if item.get("type") == "function_call":
                self.start(obj.get("output_index", 0), item.get("call_id"), item.get("name"))

    def anthropic_event(self, kind: str, obj: dict[str, Any]) -> None:
        """An Anthropic stream event: text deltas, tool_use blocks and their input JSON."""
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.parts.append(str(delta.get("text") or ""))
            elif delta.get("type") == "input_json_delta":
                self.arguments(obj.get("index", 0), delta.get("partial_json") or "")
        elif kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.start(obj.get("index", 0), block.get("id"), block.get("name"))
