"""Providers: one module per target kind, each exporting a `PROVIDER` (see registry)."""

from __future__ import annotations

from loadtest.providers.base import EventParser, Provider
from loadtest.providers.registry import providers

__all__ = ["PARSERS", "EventParser", "Provider"]

# The event parser of each kind. The engine still reads it from here; a RequestBuilder
# carries its provider, so `builder.provider.parse_events` is the same function.
PARSERS: dict[str, EventParser] = {k: p.parse_events for k, p in providers().items()}
