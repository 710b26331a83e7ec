"""Prompt lengths in the server's tokens, not ours.

Every server counts with its own tokenizer (Anthropic's is not public), so a prompt of
"32 tokens" at four characters a token reached a vLLM server as 80-101 prompt tokens.
Two ways to ask for the length that was meant:

- Tokenizer: the profile names the model's `tokenizer.json` (`[workload] tokenizer`),
  read with the `tokenizers` package (offline: a local file, never a download); a
  synthetic prompt is cut at the end of its N-th token.
- Calibration: without one, the warm-up's requests are sent at four characters a token,
  half, once and one and a half times the length asked for in turn (a warm-up is not
  measured, and the spread is what separates the chat template's fixed overhead from
  the per-character rate), and each target's usage says how many tokens the server
  counted; from those pairs a line tokens = overhead + characters / chars_per_token is
  fitted by least squares, and after the warm-up that target's prompts have the
  characters its server counts as the requested tokens. (A plain ratio through one
  length put the template's share in the rate: 125 tokens where 120 were asked.)

`Lengths` (the state of one run) is fed by the engine and read by PromptSource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from loadtest.config_reader import ConfigError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

CHARS_PER_TOKEN = 4.0  # before calibration, and where nothing says better
MIN_SAMPLES = 3  # warm-up requests with usage a target needs before it is calibrated
WARMUP_SPREAD = (0.5, 1.0, 1.5)  # the warm-up's lengths, in turn, times the one asked for
VARIED = 0.1  # a relative spread of the warm-up's lengths past which a line is fitted

TOKENIZER = "tokenizer"
CALIBRATED = "calibrated"
ESTIMATE = "chars/4"
PROMPTS_FILE = "prompts file"
TASK_FILE = "task file"  # a judged workload's tasks: their messages as written


def load_tokenizer(path: str) -> Tokenizer:
    """The tokenizer in the `tokenizer.json` at PATH; ConfigError in one line."""
    from tokenizers import Tokenizer  # only for profiles that name one

    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such tokenizer file (a tokenizer.json)")
    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # the Rust side raises plain Exceptions
        raise ConfigError(f"{path}: not a tokenizer.json ({str(exc)[:120]})") from None


def cut_to_tokens(tokenizer: Tokenizer, text: str, n: int) -> str:
    """TEXT cut at the end of its N-th token (all of it when it holds fewer)."""
    enc = tokenizer.encode(text, add_special_tokens=False)
    if len(enc.ids) <= n:
        return text
    return text[: enc.offsets[n - 1][1]]


@dataclass(frozen=True)
class Fit:
    """tokens = overhead + characters / chars_per_token, for one target's server."""

    chars_per_token: float
    overhead: float = 0.0

    def chars_for(self, tokens: int) -> int:
        """Characters of text the server counts as TOKENS (at least one)."""
        return max(1, round((tokens - self.overhead) * self.chars_per_token))


def fit(samples: Sequence[tuple[int, int]]) -> Fit | None:
    """The Fit of (characters, server tokens) SAMPLES; None with too few."""
    if len(samples) < MIN_SAMPLES:
        return None
    xs = [float(c) for c, _ in samples]
    ys = [float(t) for _, t in samples]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    spread = (sum((x - mx) ** 2 for x in xs) / n) ** 0.5
    if mx > 0 and spread / mx > VARIED:
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        slope = sxy / sum((x - mx) ** 2 for x in xs)
        if slope > 0:
            return Fit(1 / slope, my - slope * mx)
    return Fit(sum(xs) / sum(ys)) if sum(ys) > 0 else None


@dataclass
class TargetLengths:
    """One target's prompt lengths over a run."""

    samples: list[tuple[int, int]] = field(default_factory=list)  # warm-up (chars, tokens)
    fit: Fit | None = None
    frozen: bool = False  # the warm-up is over: the fit (or its absence) stands
    requested: int = 0  # tokens asked for by its measured prompts
    prompts: int = 0
    warmup_prompts: int = 0


class Lengths:
    """Per target: warm-up samples, the fit, and the tokens its measured prompts asked for."""

    def __init__(self, method: str) -> None:
        self.method = method  # TOKENIZER, PROMPTS_FILE, TASK_FILE, or ESTIMATE until calibrated
        self.methods: dict[str, str] = {}  # targets with a workload of their own: theirs
        self.targets: dict[str, TargetLengths] = {}

    def of(self, target: str) -> TargetLengths:
        """TARGET's state (made on first use)."""
        return self.targets.setdefault(target, TargetLengths())

    def observe(self, target: str, chars: int, server_tokens: int) -> None:
        """A warm-up request of CHARS characters the server counted as SERVER_TOKENS."""
        t = self.of(target)
        if not t.frozen and server_tokens > 0:
            t.samples.append((chars, server_tokens))

    def chars_for(self, target: str, tokens: int, measured: bool) -> int:
        """Characters for a prompt of TOKENS to TARGET; the first measured one freezes
        the target's calibration."""
        t = self.of(target)
        if measured:
            if not t.frozen:
                t.frozen = True
                t.fit = fit(t.samples)
            t.requested += tokens
            t.prompts += 1
        if t.fit is not None:
            return t.fit.chars_for(tokens)
        if not t.frozen:  # the warm-up: spread its lengths for the fit
            t.warmup_prompts += 1
            tokens = max(1, round(tokens * WARMUP_SPREAD[t.warmup_prompts % len(WARMUP_SPREAD)]))
        return max(1, round(tokens * CHARS_PER_TOKEN))

    def count(self, target: str, tokens: int) -> None:
        """A measured prompt of TOKENS made without characters (tokenizer, file)."""
        t = self.of(target)
        t.requested += tokens
        t.prompts += 1

    def method_of(self, target: str) -> str:
        """How TARGET's prompt lengths were made."""
        method = self.methods.get(target, self.method)
        if method != ESTIMATE:
            return method
        return CALIBRATED if self.of(target).fit is not None else ESTIMATE
