"""What one response will be: TTFT, output tokens, tool call, finish reason, fault (pure)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property

from loadtest.sim.faults import FaultChoice
from loadtest.sim.presets import Preset
from loadtest.sim.requests import SimRequest
from loadtest.sim.text import split_fragments, text_tokens, tool_arguments
from loadtest.sim.timeofday import Conditions


@dataclass(frozen=True)
class ToolCall:
    """A tool call the response makes: its id, function name and full argument string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Plan:
    """The intended response: reasoning tokens, then content tokens (text or tool-argument
    fragments). Streamed, they go out in events of `tokens_per_event` tokens each (reasoning
    and content never share an event; the last event of each may carry fewer).

    The first event is due at the TTFT; each later event one inter-token gap per token it
    carries after the one before, as a server does that sends whenever it has that many
    tokens ready. With one token per event this is one event per token, as before.
    """

    ttft_s: float
    first_byte_s: float
    reasoning: tuple[str, ...]
    content: tuple[str, ...]
    finish: str  # stop | length | tool_calls
    input_tokens: int
    tool: ToolCall | None = None
    fault: FaultChoice | None = None
    tokens_per_event: int = 1

    @property
    def output_tokens(self) -> int:
        """Tokens the usage reports: every reasoning and content token, however packed."""
        return len(self.reasoning) + len(self.content)

    @property
    def events(self) -> int:
        """Timed events in the stream (a fault's at_token counts these)."""
        n = self.tokens_per_event
        return -(-len(self.reasoning) // n) + -(-len(self.content) // n)

    @cached_property
    def reasoning_events(self) -> tuple[str, ...]:
        """The reasoning text of each reasoning event."""
        return _pack(self.reasoning, self.tokens_per_event)

    @cached_property
    def content_events(self) -> tuple[str, ...]:
        """The text (or argument fragment) of each content event."""
        return _pack(self.content, self.tokens_per_event)

    def event_tokens(self) -> tuple[int, ...]:
        """How many tokens each event carries, in stream order."""
        n = self.tokens_per_event
        out: list[int] = []
        for part in (self.reasoning, self.content):
            full, rest = divmod(len(part), n)
            out += [n] * full + ([rest] if rest else [])
        return tuple(out)

    @property
    def gap_tokens(self) -> int:
        """Inter-token gaps from the first event to the last: the first event's tokens cost none."""
        first = self.reasoning or self.content
        return max(0, self.output_tokens - min(len(first), self.tokens_per_event))


def _pack(tokens: tuple[str, ...], n: int) -> tuple[str, ...]:
    if n == 1:
        return tokens  # the common case costs nothing
    return tuple("".join(tokens[i : i + n]) for i in range(0, len(tokens), n))


def sample_ttft_s(preset: Preset, cond: Conditions, input_tokens: int, rng: random.Random) -> float:
    """Log-normal TTFT (median and tail scaled by the hour's conditions) plus prefill."""
    mu = math.log(preset.ttft_median_ms * cond.ttft / 1000.0)
    base = rng.lognormvariate(mu, preset.ttft_sigma * cond.tail)
    return base + preset.prefill_ms_per_1k_tokens * input_tokens / 1e6


def gap_params(preset: Preset, cond: Conditions) -> tuple[float, float]:
    """(mu, sigma) of the log-normal inter-token gap; its mean is 1/rate, so tok/s holds."""
    sigma = preset.token_jitter
    rate = preset.tokens_per_s * cond.speed
    return -math.log(rate) - sigma * sigma / 2.0, sigma


def sample_length(preset: Preset, req: SimRequest, rng: random.Random, cap: int) -> tuple[int, str]:
    """Output length and finish reason: the length distribution clipped at CAP."""
    if req.ignore_eos:
        return cap, "length"
    n = max(
        1, round(rng.lognormvariate(math.log(preset.output_median_tokens), preset.output_sigma))
    )
    n = max(n, req.min_tokens)
    return (cap, "length") if n >= cap else (n, "stop")


def make_plan(
    preset: Preset, req: SimRequest, cond: Conditions, rng: random.Random, ids: str
) -> Plan:
    """Draw everything random about one response from RNG (so a seed reproduces it)."""
    cap = min(req.max_tokens or preset.max_output_tokens, preset.max_output_tokens)
    ttft = sample_ttft_s(preset, cond, req.input_tokens, rng)
    reasoning_n = 0
    if req.thinking_budget is not None:
        reasoning_n = min(preset.thinking_tokens, req.thinking_budget, cap - 1)
    elif preset.reasoning_tokens and req.api != "messages":
        reasoning_n = min(_around(preset.reasoning_tokens, rng), cap - 1)
    reasoning = text_tokens(rng, reasoning_n)
    room = cap - reasoning_n
    tool = _tool_call(preset, req, rng, ids)
    if tool is not None:
        content = split_fragments(tool.arguments, rng)
        finish = "tool_calls"
        if len(content) > room:
            content, finish = content[:room], "length"
    else:
        n, finish = sample_length(preset, req, rng, room)
        content = text_tokens(rng, n)
    first_byte = ttft * preset.first_byte_fraction
    return Plan(
        ttft,
        first_byte,
        reasoning,
        content,
        finish,
        req.input_tokens,
        tool,
        tokens_per_event=preset.tokens_per_event,
    )


def _around(median: int, rng: random.Random) -> int:
    return max(1, round(rng.lognormvariate(math.log(median), 0.4)))


def _tool_call(preset: Preset, req: SimRequest, rng: random.Random, ids: str) -> ToolCall | None:
    if not req.tools or req.tool_choice == "none":
        return None
    named = [t for t in req.tools if t.name == req.tool_choice]
    if not named and req.tool_choice != "required" and rng.random() >= preset.tool_call_rate:
        return None
    tool = named[0] if named else rng.choice(req.tools)
    return ToolCall(f"call_{ids}", tool.name, tool_arguments(tool.schema, rng))
