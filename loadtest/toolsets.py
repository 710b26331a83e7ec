"""The tool schemas agent-shaped workloads send: the five-tool agent schema (search,
calculate, fetch_data, write_file, notify), and a variant where two tools overlap in
meaning (search_web, search_knowledge_base), the case the article says gpt-4o-mini
guesses 50/50 on. Each tool is provider-neutral (name, description, a JSON schema of its
arguments); providers wrap them in their own format."""

from __future__ import annotations

from typing import Any

Tool = dict[str, Any]  # {"name", "description", "parameters": JSON schema}


def _tool(name: str, description: str, props: dict[str, Any], required: list[str]) -> Tool:
    return {
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        },
    }


_STR = {"type": "string"}

CALCULATE = _tool(
    "calculate",
    "Evaluate an arithmetic expression and return the number.",
    {"expression": {**_STR, "description": "e.g. '(1200 * 0.15) + 40'"}},
    ["expression"],
)
FETCH_DATA = _tool(
    "fetch_data",
    "Fetch records from an internal dataset by name, with optional filters.",
    {
        "dataset": {**_STR, "enum": ["invoices", "orders", "customers", "tickets"]},
        "filters": {
            "type": "object",
            "properties": {
                "since": {**_STR, "description": "ISO date"},
                "until": {**_STR, "description": "ISO date"},
                "status": _STR,
                "min_amount": {"type": "number"},
            },
            "additionalProperties": False,
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    ["dataset"],
)
WRITE_FILE = _tool(
    "write_file",
    "Write text to a file in the workspace, replacing it.",
    {"path": {**_STR, "description": "relative path"}, "content": _STR},
    ["path", "content"],
)
NOTIFY = _tool(
    "notify",
    "Send a short message to a person or a channel.",
    {
        "recipient": {**_STR, "description": "an email address or #channel"},
        "message": _STR,
        "urgency": {**_STR, "enum": ["low", "normal", "high"]},
    },
    ["recipient", "message"],
)
SEARCH = _tool(
    "search",
    "Search the web for current information.",
    {"query": _STR, "max_results": {"type": "integer", "minimum": 1, "maximum": 20}},
    ["query"],
)
SEARCH_WEB = _tool(
    "search_web",
    "Search the public web for information.",
    {"query": _STR, "max_results": {"type": "integer", "minimum": 1, "maximum": 20}},
    ["query"],
)
SEARCH_KNOWLEDGE_BASE = _tool(
    "search_knowledge_base",
    "Search the company's knowledge base of internal documents and policies.",
    {"query": _STR, "max_results": {"type": "integer", "minimum": 1, "maximum": 20}},
    ["query"],
)

TOOLSETS: dict[str, tuple[Tool, ...]] = {
    "five": (SEARCH, CALCULATE, FETCH_DATA, WRITE_FILE, NOTIFY),
    "overlapping": (SEARCH_WEB, SEARCH_KNOWLEDGE_BASE, CALCULATE, FETCH_DATA, WRITE_FILE, NOTIFY),
}


def toolset(name: str) -> tuple[Tool, ...]:
    """The tools of the set NAME; KeyError names the sets there are."""
    try:
        return TOOLSETS[name]
    except KeyError:
        raise KeyError(f"no tool set {name!r} (there are {', '.join(TOOLSETS)})") from None
