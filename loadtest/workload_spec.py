"""The `[workload]` table: what each request asks for (lengths, prompts, a judged
workload's kind and task file), as a frozen value, and its reading from the profile."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from loadtest.config_reader import Table
from loadtest.tasks import WORKLOAD_KINDS, judged_tasks

DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal")


@dataclass(frozen=True)
class Lengths:
    """A token-length distribution: fixed, or drawn and clamped to [min, max]."""

    distribution: str = "fixed"
    mean: float = 128.0
    stddev: float = 0.0
    min: int = 1
    max: int = 1_000_000

    def sample(self, rng: random.Random) -> int:
        """One length."""
        d = self.distribution
        if d == "fixed":
            x = self.mean
        elif d == "uniform":
            x = rng.uniform(self.mean - self.stddev * 3**0.5, self.mean + self.stddev * 3**0.5)
        elif d == "normal":
            x = rng.gauss(self.mean, self.stddev)
        else:  # lognormal with this mean and standard deviation
            s2 = math.log(1 + (self.stddev / self.mean) ** 2)
            x = rng.lognormvariate(math.log(self.mean) - s2 / 2, s2**0.5)
        return int(min(self.max, max(self.min, round(x))))


@dataclass(frozen=True)
class Workload:
    """What each request asks for."""

    input_tokens: Lengths = Lengths(mean=100)
    output_tokens: Lengths = Lengths(mean=128)  # sent as max_tokens
    prompts_file: str | None = None  # JSONL of {"messages": [...]} (or {"prompt": "..."})
    system: str | None = None
    temperature: float | None = None
    ignore_eos: bool = False  # ask servers that support it for exactly max_tokens
    tokenizer: str | None = None  # a tokenizer.json: prompt lengths in its tokens
    kind: str = "chat"  # or tools, extract, agent: tasks whose answers are judged
    tasks: str | None = None  # their task file (resolved path); see loadtest.tasks
    tool_latency: Lengths = Lengths("fixed", 0.0, 0.0, 0, 0)  # agent: ms a tool takes
    max_steps: int = 8  # agent: model calls a task may take


def read_lengths(t: Table, key: str, default: Lengths) -> Lengths:
    if not t.has(key):
        return default
    raw = t.data[key]
    if isinstance(raw, int) and not isinstance(raw, bool):
        n = t.integer(key, 0, min=1)
        return Lengths("fixed", float(n), 0.0, n, n)
    sub = t.table(key)
    if sub is None:
        raise t.error(key, "a token count or a table {distribution, mean, stddev, min, max}")
    lengths = Lengths(
        sub.string("distribution", "fixed", choices=DISTRIBUTIONS),
        sub.number("mean", default.mean, positive=True),
        sub.number("stddev", 0.0, min=0),
        sub.integer("min", 1, min=1),
        sub.integer("max", 1_000_000, min=1),
    )
    if lengths.min > lengths.max:
        raise sub.error("min", f"a value <= max ({lengths.max})", lengths.min)
    sub.finish()
    return lengths


def read_workload(t: Table | None, base_dir: Path) -> Workload:
    if t is None:
        return Workload()
    kind = t.string("kind", "chat", choices=WORKLOAD_KINDS)
    w = Workload(
        input_tokens=read_lengths(t, "input_tokens", Workload.input_tokens),
        output_tokens=read_lengths(t, "output_tokens", Workload.output_tokens),
        prompts_file=t.string("prompts_file", "") or None,
        system=t.string("system", "") or None,
        temperature=t.number("temperature", 0.0, min=0, max=2) if t.has("temperature") else None,
        ignore_eos=t.boolean("ignore_eos", False),
        tokenizer=t.string("tokenizer", "") or None,
        kind=kind,
        tasks=judged_tasks(t, kind, base_dir),
        tool_latency=read_lengths(t, "tool_latency_ms", Workload.tool_latency),
        max_steps=t.integer("max_steps", 8, min=1),
    )
    if w.tokenizer and w.prompts_file:
        raise t.error("tokenizer", "no tokenizer with a prompts_file (its prompts are as written)")
    if w.tasks and w.prompts_file:
        raise t.error("prompts_file", f"no prompts_file in a {kind} workload (its task file says)")
    t.finish()
    return w
