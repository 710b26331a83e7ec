"""Providers: one module per target kind, each exporting a `PROVIDER` (see registry)."""

from __future__ import annotations

from loadtest.providers.base import EventParser, Provider
from loadtest.providers.registry import providers

__all__ = ["PARSERS", "EventParser", "Provider"]


def __getattr__(name: str) -> dict[str, EventParser]:
    """PARSERS: the event parser of each kind (a RequestBuilder carries its provider, so
    `builder.provider.parse_events` is the same function). Built on first use, not at
    import: the scan imports every module here, and some of them import modules that
    import this package (judging, through providers.answer), which would then be
    half-initialised."""
    if name == "PARSERS":
        return {k: p.parse_events for k, p in providers().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
