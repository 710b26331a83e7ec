"""What a provider's event parser accumulates from one response's events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from loadtest.errors import ErrorClass


@dataclass(slots=True)
class Reading:
    """Accumulated from one response's events."""

    events: int = 0  # content events seen, reasoning included (an event may carry tokens)
    reasoning_events: int = 0  # of which reasoning
    usage_output_tokens: int | None = None  # from the server's usage, when it sends one
    usage_input_tokens: int | None = None
    finish_reason: str | None = None
    done: bool = False
    error: ErrorClass | None = None
    error_detail: str = ""

    @property
    def output_tokens(self) -> int:
        """Server usage when sent, else the counted events (see `counted`)."""
        return self.usage_output_tokens if self.usage_output_tokens is not None else self.events

    @property
    def counted(self) -> bool:
        """True when output_tokens is our count, not the server's usage."""
        return self.usage_output_tokens is None

    @property
    def complete(self) -> bool:
        """Ended normally: a terminal event, or a finish reason from servers that send no
        terminal event (some OpenAI-compatible servers end the stream after it)."""
        return self.error is None and (self.done or self.finish_reason is not None)

    def fail(self, error: ErrorClass, detail: str) -> None:
        """Record an error class and a short detail (the first one wins)."""
        if self.error is None:
            self.error = error
            self.error_detail = detail[:200]


def load_object(data: bytes, r: Reading) -> dict[str, Any] | None:
    """The event's JSON object, or None after recording a protocol error on R."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        r.fail(ErrorClass.PROTOCOL, f"invalid JSON in event: {data[:80]!r}")
        return None
    if not isinstance(obj, dict):
        r.fail(ErrorClass.PROTOCOL, f"event is not an object: {data[:80]!r}")
        return None
    return obj
