"""How each API family takes tools, a JSON-schema output format, and a tool's result.

Tools are provider-neutral in loadtest (loadtest.toolsets: name, description, a JSON
schema of the arguments); each family wraps them its own way, takes structured output
its own way (OpenAI: a strict json_schema format; Anthropic: a forced tool, as its docs
advise), and hears back from a tool in its own kind of turn. One value per family, held
by each Provider as `agentic`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest.validators import ToolCall

Tool = Mapping[str, Any]  # {"name", "description", "parameters"}
EXTRACT_TOOL = "extract"  # the forced tool that carries an Anthropic extraction
EXTRACT_NAME = "extract"  # the json_schema format's name (OpenAI requires one)


@dataclass(frozen=True, slots=True)
class ChatTools:
    """Chat Completions: function tools, `response_format`, `tool` messages."""

    def tools(self, body: dict[str, Any], tools: Sequence[Tool]) -> None:
        """Offer TOOLS, the model to choose."""
        body["tools"] = [{"type": "function", "function": dict(t)} for t in tools]
        body["tool_choice"] = "auto"

    def schema(self, body: dict[str, Any], schema: Mapping[str, Any]) -> None:
        """Ask for JSON that fits SCHEMA, strictly."""
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": EXTRACT_NAME, "schema": dict(schema), "strict": True},
        }

    def tool_turn(self, call: ToolCall, result: str) -> list[dict[str, Any]]:
        """The turns that record CALL and the tool's RESULT (JSON text)."""
        fn = {"name": call.name, "arguments": call.arguments}
        return [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call.id, "type": "function", "function": fn}],
            },
            {"role": "tool", "tool_call_id": call.id, "content": result},
        ]


@dataclass(frozen=True, slots=True)
class ResponsesTools:
    """Responses: flat function tools, `text.format`, function_call(_output) items."""

    def tools(self, body: dict[str, Any], tools: Sequence[Tool]) -> None:
        """Offer TOOLS, the model to choose (not strict: the task files' schemas have
        optional fields, which strict function calling refuses)."""
        body["tools"] = [{"type": "function", **t, "strict": False} for t in tools]
        body["tool_choice"] = "auto"

    def schema(self, body: dict[str, Any], schema: Mapping[str, Any]) -> None:
        """Ask for JSON that fits SCHEMA, strictly."""
        fmt = {"type": "json_schema", "name": EXTRACT_NAME, "schema": dict(schema), "strict": True}
        body["text"] = {"format": fmt}

    def tool_turn(self, call: ToolCall, result: str) -> list[dict[str, Any]]:
        """The input items that record CALL and the tool's RESULT (JSON text)."""
        return [
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.id, "output": result},
        ]


@dataclass(frozen=True, slots=True)
class AnthropicTools:
    """Messages: tools with `input_schema`, a forced tool for JSON, tool_use/tool_result."""

    def tools(self, body: dict[str, Any], tools: Sequence[Tool]) -> None:
        """Offer TOOLS, the model to choose."""
        body["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in tools
        ]
        body["tool_choice"] = {"type": "auto"}

    def schema(self, body: dict[str, Any], schema: Mapping[str, Any]) -> None:
        """Ask for JSON that fits SCHEMA: one tool taking it, and that tool forced."""
        body["tools"] = [
            {
                "name": EXTRACT_TOOL,
                "description": "Record the fields extracted from the text.",
                "input_schema": dict(schema),
            }
        ]
        body["tool_choice"] = {"type": "tool", "name": EXTRACT_TOOL}

    def tool_turn(self, call: ToolCall, result: str) -> list[dict[str, Any]]:
        """The turns that record CALL and the tool's RESULT (JSON text)."""
        try:
            given = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            given = {}
        use = {"type": "tool_use", "id": call.id, "name": call.name, "input": given}
        answer = {"type": "tool_result", "tool_use_id": call.id, "content": result}
        return [{"role": "assistant", "content": [use]}, {"role": "user", "content": [answer]}]


Agentic = ChatTools | ResponsesTools | AnthropicTools
CHAT_TOOLS = ChatTools()
