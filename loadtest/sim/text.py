"""Synthetic output text, tool-call arguments and the simulator's input-token estimate."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

_WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an have "
    "not which one all were can there been has their if will more when would who so no "
    "model agent tool call latency token stream request queue batch cache route answer "
    "result value order city weather report invoice vendor total group flag task step "
    "plan check "
).split()

# One token is one word with its leading space, as BPE vocabularies mostly split English.
VOCAB: tuple[str, ...] = tuple(" " + w for w in _WORDS)


# A fixed pseudo-random cycle of tokens; a response is a slice of it at a random offset.
# Drawing each token separately cost ~0.4 us a token, the largest part of setting up
# a stream; a slice costs about as much as a copy.
_CYCLE_LEN = 1 << 16
_CYCLE_RNG = random.Random(0x5EED)
_CYCLE: tuple[str, ...] = tuple(_CYCLE_RNG.choice(VOCAB) for _ in range(_CYCLE_LEN))


def text_tokens(rng: random.Random, n: int) -> tuple[str, ...]:
    """N output tokens of plausible text (deterministic for a given RNG state)."""
    out: tuple[str, ...] = ()
    while n > 0:
        start = rng.randrange(_CYCLE_LEN)
        take = min(n, _CYCLE_LEN - start)
        out += _CYCLE[start : start + take]
        n -= take
    return out


def estimate_tokens(text: str) -> int:
    """The simulator's token count for TEXT: about four characters a token, at least one."""
    return max(1, (len(text) + 3) // 4)


def _texts(value: Any) -> Iterable[str]:
    """Every string inside a JSON value (message content may be a string or a list of parts)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k in ("text", "content", "input", "arguments", "thinking"):
                yield from _texts(v)


def count_input_tokens(messages: Iterable[Any], system: Any = None, tools: Any = None) -> int:
    """Input tokens the simulator charges and reports: text tokens, 4 per message, 3 to prime.

    Clients can compute the same number to check the usage the simulator reports.
    """
    total = 3
    for m in [system, *messages] if system else messages:
        total += 4 + sum(estimate_tokens(t) for t in _texts(m))
    if tools:
        total += estimate_tokens(orjson.dumps(tools).decode())
    return total


def tool_arguments(schema: Mapping[str, Any] | None, rng: random.Random) -> str:
    """A JSON object string that satisfies the required properties of a JSON schema."""
    props = (schema or {}).get("properties") or {}
    required = (schema or {}).get("required") or list(props)[:1]
    args: dict[str, Any] = {}
    for name in required:
        args[name] = _sample(props.get(name) or {}, rng)
    return orjson.dumps(args).decode()


def _sample(spec: Mapping[str, Any], rng: random.Random) -> Any:
    if spec.get("enum"):
        return rng.choice(list(spec["enum"]))
    kind = spec.get("type", "string")
    if kind in ("integer",):
        return rng.randrange(1, 100)
    if kind == "number":
        return round(rng.uniform(0, 100), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_sample(spec.get("items") or {}, rng)]
    if kind == "object":
        return orjson.loads(tool_arguments(spec, rng))
    return rng.choice(("Berlin", "Paris", "Tokyo", "invoice-1042", "Q3 report"))


def split_fragments(text: str, rng: random.Random) -> tuple[str, ...]:
    """TEXT cut into 1-6 character fragments, as argument deltas arrive from real providers."""
    out = []
    i = 0
    while i < len(text):
        n = rng.randint(1, 6)
        out.append(text[i : i + n])
        i += n
    return tuple(out)
