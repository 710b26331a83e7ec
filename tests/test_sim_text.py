"""Synthetic text, tool arguments and the input-token estimate."""

from __future__ import annotations

import itertools
import random

import orjson
import pytest

from loadtest.sim.text import (
    VOCAB,
    count_input_tokens,
    estimate_tokens,
    split_fragments,
    text_tokens,
    tool_arguments,
)


def test_text_tokens_vary_and_repeat_under_the_same_seed() -> None:
    tokens = text_tokens(random.Random(1), 500)
    assert len(tokens) == 500
    assert set(tokens) <= set(VOCAB)
    assert len(set(tokens)) > len(VOCAB) // 2  # not one word repeated
    assert sum(a == b for a, b in itertools.pairwise(tokens)) < 50
    assert tokens == text_tokens(random.Random(1), 500)
    assert tokens != text_tokens(random.Random(2), 500)


def test_text_tokens_longer_than_the_cycle() -> None:
    assert len(text_tokens(random.Random(3), 70_000)) == 70_000


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 1), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)]
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_count_input_tokens_counts_text_parts_messages_system_and_tools() -> None:
    plain = [{"role": "user", "content": "x" * 40}]
    parts = [{"role": "user", "content": [{"type": "text", "text": "x" * 40}]}]
    assert count_input_tokens(plain) == 3 + 4 + 10
    assert count_input_tokens(parts) == count_input_tokens(plain)
    assert count_input_tokens(plain, system="y" * 8) == 3 + (4 + 2) + (4 + 10)
    tools = [{"name": "get_weather"}]
    tools_json = '[{"name":"get_weather"}]'
    assert count_input_tokens(plain, tools=tools) == 17 + estimate_tokens(tools_json)


def test_tool_arguments_fill_required_properties_with_typed_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "detailed": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "units", "days", "detailed", "tags"],
    }
    args = orjson.loads(tool_arguments(schema, random.Random(4)))
    assert set(args) == {"city", "units", "days", "detailed", "tags"}
    assert args["units"] in ("celsius", "fahrenheit")
    assert isinstance(args["days"], int) and isinstance(args["detailed"], bool)
    assert isinstance(args["tags"], list) and isinstance(args["city"], str)


def test_split_fragments_rejoin_to_the_text() -> None:
    text = '{"city": "Berlin", "units": "celsius"}'
    frags = split_fragments(text, random.Random(5))
    assert "".join(frags) == text
    assert all(1 <= len(f) <= 6 for f in frags)
    assert len(frags) > 5
