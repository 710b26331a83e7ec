"""The prompt sequence of a run: the i-th prompt is the same for every target (deterministic).

Synthetic prompts aim at an input length in the server's tokens: cut with the profile's
tokenizer when it names one, else at four characters a token until the warm-up has
calibrated each target (loadtest.prompt_length). Each prompt opens with its own random
words, so provider prompt caches cannot make later requests cheaper than the first.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtest.config_reader import ConfigError, jsonl_objects
from loadtest.prompt_length import (
    CHARS_PER_TOKEN,
    ESTIMATE,
    PROMPTS_FILE,
    TASK_FILE,
    TOKENIZER,
    Lengths,
    cut_to_tokens,
    load_tokenizer,
)
from loadtest.tasks import Task, read_tasks
from loadtest.workload_spec import Workload

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from loadtest.profile import Profile

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
    chars: int = 0  # of its synthetic text (0 for a prompts file's)
    task: Task | None = None  # a judged workload's task (its tools, what it expects)
    index: int = 0  # its place in the run's sequence (seeds what an agent task draws)


class PromptSource:
    """Prompts by index, from a seed (synthetic), a JSONL file or a task file (cycled);
    targets with a workload of their own (OWN) draw from theirs."""

    def __init__(
        self,
        w: Workload,
        seed: int,
        base_dir: Path | None = None,
        own: Mapping[str, Workload] | None = None,
    ) -> None:
        self.w = w
        self.seed = seed
        self._file: list[tuple[dict[str, Any], ...]] | None = None
        self.tokenizer: Tokenizer | None = None
        self._tasks: list[Task] | None = None
        if w.tasks:
            # Read at profile load already; in a seeded order, so that a run's first
            # requests are not always the file's first kind of task.
            self._tasks = read_tasks(w.tasks, w.kind)
            random.Random(seed).shuffle(self._tasks)
            method = TASK_FILE
        elif w.prompts_file:
            path = Path(w.prompts_file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            self._file = _read_jsonl(path)
            method = PROMPTS_FILE
        elif w.tokenizer:
            self.tokenizer = load_tokenizer(w.tokenizer)
            method = TOKENIZER
        else:
            method = ESTIMATE
        self.lengths = Lengths(method)
        self._own: dict[str, PromptSource] = {}
        self._salts: dict[str, int] = {}
        for target, tw in (own or {}).items():
            sub = self._own[target] = PromptSource(tw, seed, base_dir)
            self.lengths.methods[target] = sub.lengths.method
            sub.lengths = self.lengths  # one record of every target's prompt lengths

    def _salt(self, target: str) -> int:
        salt = self._salts.get(target)
        if salt is None:
            salt = self._salts[target] = zlib.crc32(target.encode()) << 32
        return salt

    def prompt(self, i: int, target: str = "", measured: bool = False) -> Prompt:
        """TARGET's I-th prompt (its length in that target's tokens, once calibrated; no
        target: at four characters a token, as a prompt stands alone); MEASURED: it is
        sent after the warm-up. Every target gets the same task or file line and the same
        lengths at I, so their judgements pair up."""
        if self._own and target in self._own:
            return self._own[target].prompt(i, target, measured)
        rng = random.Random(self.seed * 1_000_003 + i)
        max_tokens = self.w.output_tokens.sample(rng)
        if self._tasks is not None:
            task = self._tasks[i % len(self._tasks)]
            return Prompt(task.messages, max_tokens, task=task, index=i)
        if self._file is not None:
            return Prompt(self._file[i % len(self._file)], max_tokens)
        n = self.w.input_tokens.sample(rng)
        if target:
            # Same lengths for every target, other text: two targets on one server must
            # not hit each other's prefix cache.
            rng = random.Random(self.seed * 1_000_003 + i + self._salt(target))
        if self.tokenizer is not None:
            text = synthetic_text(rng, round(n * CHARS_PER_TOKEN * 2) + 16)
            text = cut_to_tokens(self.tokenizer, text, n)
            if measured:
                self.lengths.count(target, n)
        elif target:
            text = synthetic_text(rng, self.lengths.chars_for(target, n, measured))
        else:
            text = synthetic_text(rng, round(n * CHARS_PER_TOKEN))
        messages: list[dict[str, Any]] = []
        if self.w.system:
            messages.append({"role": "system", "content": self.w.system})
        messages.append({"role": "user", "content": text})
        return Prompt(tuple(messages), max_tokens, len(text))


def synthetic_text(rng: random.Random, chars: int) -> str:
    """CHARS characters of text (at least one) made of random words."""
    out: list[str] = []
    size = 0
    while size < chars:
        w = rng.choice(_WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[: max(1, chars)]


def _read_jsonl(path: Path) -> list[tuple[dict[str, Any], ...]]:
    prompts = []
    for n, obj in jsonl_objects(path, "prompts file"):
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


def prompt_source(p: Profile) -> PromptSource:
    """The prompts of profile P's run: its [workload], and each target's own."""
    own = {t.name: t.workload for t in p.targets if t.workload is not None}
    return PromptSource(p.workload, p.seed, own=own)
