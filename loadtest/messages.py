"""The servers' own words behind errors: each failed request's detail, normalised so
that the same complaint counts once however its ids differ, counted per error class,
and bounded however many distinct ones a bad day brings (pure).

A detail is scrubbed of secrets by the transport before it gets here; normalising
only shortens it and masks what differs from one request to the next (request ids,
long hex and base64 runs, UUIDs), so "Invalid API key" or "max_tokens must be greater
than thinking.budget_tokens" reaches the summary and the reports as it was said.
"""

from __future__ import annotations

import re
from collections import Counter

from loadtest.schema import ErrorMessage

MAX_DISTINCT = 40  # distinct (class, message) kept per counter; the rest: OTHER of their class
MAX_CHARS = 240
OTHER = "(other messages)"

Key = tuple[str, str]  # (error class, normalised message)

_IDS = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"  # UUID
    r"|\b(?:req|msg|chatcmpl|resp|call|toolu)_[A-Za-z0-9]{6,}\b"  # provider request ids
    r"|\b[0-9a-f]{16,}\b"  # long hex
    r"|\b[A-Za-z0-9+/_-]{32,}={0,2}"  # long base64-like runs
)
_SPACE = re.compile(r"\s+")


def normalise(detail: str) -> str:
    """DETAIL as one line, ids masked, at most MAX_CHARS."""
    text = _SPACE.sub(" ", _IDS.sub("…", detail)).strip()
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def count(into: Counter[Key], error: str, detail: str, n: int = 1) -> None:
    """Count N requests of class ERROR whose detail was DETAIL into INTO, within
    MAX_DISTINCT distinct keys."""
    _add(into, (error, normalise(detail) if detail else ""), n)


def merge(into: Counter[Key], other: Counter[Key]) -> None:
    """OTHER's counts into INTO, within the same bound."""
    for key, n in other.items():
        _add(into, key, n)


def _add(into: Counter[Key], key: Key, n: int) -> None:
    if key not in into and len(into) >= MAX_DISTINCT:
        key = (key[0], OTHER)  # past the bound: counted, as its class's other messages
    into[key] += n


def listed(messages: Counter[Key]) -> list[ErrorMessage]:
    """A target's `messages` in summary.json: top()'s, as objects."""
    return [{"error": e, "message": m, "count": n} for e, m, n in top(messages)]


def top(messages: Counter[Key], per_class: int = 3) -> list[tuple[str, str, int]]:
    """(class, message, count) of the PER_CLASS most frequent messages of each class,
    the most frequent first; requests without a detail are left out."""
    kept: Counter[str] = Counter()
    out = []
    for (error, message), n in sorted(messages.items(), key=lambda kv: (-kv[1], kv[0])):
        if message and kept[error] < per_class:
            kept[error] += 1
            out.append((error, message, n))
    return out
