"""Providers: how each API's stream is read (and, with profiles, how requests are built)."""

from __future__ import annotations

from collections.abc import Callable

from loadtest.providers import anthropic, openai_chat, openai_responses
from loadtest.providers.reading import Kind, Reading
from loadtest.sse import Event

EventParser = Callable[[Event, Reading], Kind]

# By target kind, as profiles will name them.
PARSERS: dict[str, EventParser] = {
    "openai": openai_chat.parse_event,
    "openai-compatible": openai_chat.parse_event,
    "openai-responses": openai_responses.parse_event,
    "anthropic": anthropic.parse_event,
}
