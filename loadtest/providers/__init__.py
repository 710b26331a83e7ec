"""Providers: how each API's stream is read (and, with profiles, how requests are built)."""

from __future__ import annotations

from collections.abc import Callable

from loadtest.providers import anthropic, openai_chat, openai_responses
from loadtest.providers.reading import Reading
from loadtest.sse import Event

# Reads the events of one network read into a Reading, stopping at an error. Batched per
# read because this is the per-event hot path: a call per event is measurable.
EventParser = Callable[[list[Event], Reading], None]

# By target kind, as profiles name them.
PARSERS: dict[str, EventParser] = {
    "openai": openai_chat.parse_events,
    "openai-compatible": openai_chat.parse_events,
    "openai-responses": openai_responses.parse_events,
    "anthropic": anthropic.parse_events,
}
