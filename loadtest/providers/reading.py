"""What a provider's event parser accumulates from one response's events.

A server can send valid JSON of the wrong shape (`choices` a string, `usage` a list, a
token count as text). The readers do not check types event by event (theirs is the
client's hottest loop): each catches the TypeError, AttributeError or KeyError that a
wrong shape raises around its loop, and `wrong_shape` then finds the field by walking
the event against the kind's `Shape`, only on that error path. Token counts are the
exception, checked where read (`count`): a string there raises nothing, and would
poison every sum later.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, TypeAlias

import orjson

from loadtest.errors import ErrorClass
from loadtest.providers.answer import Answer
from loadtest.sse import Event


@dataclass(slots=True)
class Reading:
    """Accumulated from one response's events."""

    events: int = 0  # content events seen, reasoning included (an event may carry tokens)
    reasoning_events: int = 0  # of which reasoning
    usage_output_tokens: int | None = None  # from the server's usage, when it sends one
    usage_input_tokens: int | None = None  # every prompt token, cached ones included
    usage_cached_tokens: int = 0  # of those, read from the provider's prompt cache
    finish_reason: str | None = None
    done: bool = False
    error: ErrorClass | None = None
    error_detail: str = ""
    tool_events: int = 0  # of the events, those carrying tool-call arguments
    answer: Answer | None = None  # the text and calls, for judged workloads only

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


DONE = b"[DONE]"  # Chat Completions' last event, which is not JSON


def load_objects(events: list[Event], r: Reading, done: bool = False) -> list[Any]:
    """Each event's JSON object, in order: when a read holds several, decoded in one
    orjson call over them joined as an array (0.96 us an event against 1.5 one by one,
    in a 128-event body); DONE for a `[DONE]` where DONE is a terminal event. The list
    stops at the first event that is not an object, with None after recording the
    protocol error on R (the events before it still count)."""
    if len(events) == 1:  # a server streaming token by token, read as it writes
        data = events[0].data
        return [DONE if done and data == DONE else load_object(data, r)]
    if len(events) > 1:
        datas = [e.data for e in events]
        values = None
        with contextlib.suppress(orjson.JSONDecodeError):
            joined = b",".join([b"null" if done and d == DONE else d for d in datas])
            values = orjson.loads(b"[" + joined + b"]")
        # As many values as events: no event held a top-level comma of its own.
        if type(values) is list and len(values) == len(datas):
            for i, v in enumerate(values):
                if type(v) is not dict:
                    if v is None and done and datas[i] == DONE:
                        values[i] = DONE
                        continue
                    load_object(datas[i], r)  # records why, as one by one would
                    return [*values[:i], None]
            return values
    out: list[Any] = []
    for e in events:
        if done and e.data == DONE:
            out.append(DONE)
            continue
        obj = load_object(e.data, r)
        out.append(obj)
        if obj is None:
            break
    return out


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


# What the API defines for the fields a reader goes into: a dict for an object (with the
# fields to check inside it; {} checks only that it is one), a one-item list for an array
# of that, a type for a leaf. Fields left out are not checked.
Shape: TypeAlias = dict[str, "Shape"] | list["Shape"] | type

_KIND_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer"}


def count(value: Any) -> int | None:
    """VALUE as a token count: an int or None; a TypeError (a protocol error) otherwise."""
    if value is None or type(value) is int:
        return value
    raise TypeError(f"token count is {_kind(value)}")


def wrong_shape(r: Reading, exc: Exception, data: bytes, shape: Shape) -> None:
    """Record a protocol error on R for event DATA, whose JSON is not of SHAPE (the reader
    raised EXC on it): the detail names the first field of the wrong type."""
    where = _misfit(orjson.loads(data), shape, "")
    why = where or f"{type(exc).__name__}: {exc}"
    r.fail(ErrorClass.PROTOCOL, f"event of the wrong shape, {why}: {data[:80]!r}")


def _misfit(value: Any, shape: Shape, path: str) -> str | None:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{path or 'the event'} is {_kind(value)}, not an object"
        for key, sub in shape.items():
            v = value.get(key)
            # The readers pass over null, and over an empty or false object or array.
            if v is None or (not v and not isinstance(sub, type)):
                continue
            found = _misfit(v, sub, f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{path} is {_kind(value)}, not an array"
        for i, item in enumerate(value):
            found = _misfit(item, shape[0], f"{path}[{i}]")
            if found:
                return found
        return None
    if type(value) is not shape:
        return f"{path} is {_kind(value)}, not {_KIND_NAMES.get(shape, shape.__name__)}"
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number"
    return _KIND_NAMES.get(type(value), type(value).__name__)
