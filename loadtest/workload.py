"""The prompt sequence of a run: the i-th prompt is the same for every target (deterministic).

Synthetic prompts aim at an input length in tokens at about four characters a token
(real tokenizers differ by a few percent; the server's usage is what gets reported).
Each prompt opens with its own random words, so provider prompt caches cannot make
later requests cheaper than the first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from loadtest.config_reader import ConfigError
from loadtest.profile import Workload

_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu agent tool "
    "route cache queue batch token stream latency invoice vendor report weather city order"
).split()


@dataclass(frozen=True)
class Prompt:
    """One request's input: chat messages and the output length to ask for."""

    messages: tuple[dict[str, Any], ...]
    max_tokens: int


class PromptSource:
    """Prompts by index, from a seed (synthetic) or a JSONL file (cycled)."""

    def __init__(self, w: Workload, seed: int, base_dir: Path | None = None) -> None:
        self.w = w
        self.seed = seed
        self._file: list[tuple[dict[str, Any], ...]] | None = None
        if w.prompts_file:
            path = Path(w.prompts_file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            self._file = _read_jsonl(path)

    def prompt(self, i: int) -> Prompt:
        """The I-th prompt of the run."""
        rng = random.Random(self.seed * 1_000_003 + i)
        max_tokens = self.w.output_tokens.sample(rng)
        if self._file is not None:
            return Prompt(self._file[i % len(self._file)], max_tokens)
        n = self.w.input_tokens.sample(rng)
        messages: list[dict[str, Any]] = []
        if self.w.system:
            messages.append({"role": "system", "content": self.w.system})
        messages.append({"role": "user", "content": synthetic_text(rng, n)})
        return Prompt(tuple(messages), max_tokens)


def synthetic_text(rng: random.Random, tokens: int) -> str:
    """Text of about TOKENS tokens (4 characters each), starting with random words."""
    out: list[str] = []
    size = 0
    target = 4 * tokens
    while size < target:
        w = rng.choice(_WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[: max(1, target - 1)]


def _read_jsonl(path: Path) -> list[tuple[dict[str, Any], ...]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read prompts file ({exc.strerror})") from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        at = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{at}: not UTF-8 (byte 0x{raw[exc.start]:02x}); a prompts file is JSONL"
        ) from None
    prompts = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ConfigError(f"{path}:{n}: not a JSON object") from None
        if isinstance(obj, dict) and isinstance(obj.get("messages"), list) and obj["messages"]:
            for k, m in enumerate(obj["messages"]):
                if not _is_message(m):
                    raise ConfigError(
                        f'{path}:{n}: messages[{k}]: expected {{"role": "...", "content": '
                        f"text or a list of parts}}, got {str(m)[:60]!r}"
                    )
            prompts.append(tuple(obj["messages"]))
        elif isinstance(obj, dict) and isinstance(obj.get("prompt"), str):
            prompts.append(({"role": "user", "content": obj["prompt"]},))
        else:
            raise ConfigError(f'{path}:{n}: expected {{"messages": [...]}} or {{"prompt": "..."}}')
    if not prompts:
        raise ConfigError(f"{path}: no prompts")
    return prompts


def _is_message(m: object) -> bool:
    """A chat message every provider can send: a role and text (or content parts)."""
    return (
        isinstance(m, dict)
        and isinstance(m.get("role"), str)
        and isinstance(m.get("content"), str | list)
    )
