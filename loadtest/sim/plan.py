"""What one response will be: TTFT, output tokens, tool call, finish reason, fault (pure)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property

from loadtest.sim.faults import FaultChoice
from loadtest.sim.presets import Preset
from loadtest.sim.requests import SimRequest
from loadtest.sim.scripted import Answer
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
    fragments), streamed in events as vLLM does with `--stream-interval N`
    (`tokens_per_event`). Before a tool call's arguments may come `lead` text (a model
    that says what it will do): a segment of its own, packed like the other two.

    - the first event of the stream carries one token, at the TTFT;
    - every later event carries N tokens, except that the last reasoning event and the
      last content event carry what is left: reasoning and content never share an event.
      With reasoning, the one-token event is the first reasoning one and the content goes
      in groups of N from its own start (kept simple: no realignment across the two);
    - an event goes out when its last token is ready: one inter-token gap per token it
      carries after the event before.

    So each event lands on the instant its last token has in the one-token-per-event stream
    of the same seed (without reasoning: the tokens 0, N, 2N, ... and the last one), and
    the stream ends when that one does, output_tokens - 1 gaps after its first token. With
    N = 1 every token is an event.
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
    lead: tuple[str, ...] = ()  # text tokens before the tool call (only with a tool)

    @property
    def output_tokens(self) -> int:
        """Tokens the usage reports: every reasoning and content token, however packed."""
        return len(self.reasoning) + len(self.lead) + len(self.content)

    @property
    def events(self) -> int:
        """Timed events in the stream (a fault's at_token counts these)."""
        if self.tokens_per_event == 1:
            return len(self.reasoning) + len(self.lead) + len(self.content)
        return len(self.event_tokens())

    @cached_property
    def reasoning_events(self) -> tuple[str, ...]:
        """The reasoning text of each reasoning event."""
        return _pack(self.reasoning, self.tokens_per_event, True)

    @cached_property
    def lead_events(self) -> tuple[str, ...]:
        """The text of each event of the lead before a tool call."""
        return _pack(self.lead, self.tokens_per_event, not self.reasoning)

    @cached_property
    def content_events(self) -> tuple[str, ...]:
        """The text (or argument fragment) of each content event."""
        return _pack(self.content, self.tokens_per_event, not (self.reasoning or self.lead))

    def event_tokens(self) -> tuple[int, ...]:
        """How many tokens each event carries, in stream order."""
        n = self.tokens_per_event
        groups = (
            _groups(self.reasoning, n, True)
            + _groups(self.lead, n, not self.reasoning)
            + _groups(self.content, n, not (self.reasoning or self.lead))
        )
        return tuple(len(g) for g in groups)

    @property
    def gap_tokens(self) -> int:
        """Inter-token gaps from the first event to the last: every token but the first, however
        packed (the last event goes out with the last token)."""
        return max(0, self.output_tokens - 1)


def _groups(tokens: tuple[str, ...], n: int, first: bool) -> list[tuple[str, ...]]:
    """TOKENS in events of N, the first one alone if FIRST (the stream's first token)."""
    if not tokens:
        return []
    head = 1 if first else 0
    rest = [tokens[i : i + n] for i in range(head, len(tokens), n)]
    return [tokens[:1], *rest] if head else rest


def _pack(tokens: tuple[str, ...], n: int, first: bool) -> tuple[str, ...]:
    if n == 1:
        return tokens  # the common case costs nothing
    return tuple("".join(g) for g in _groups(tokens, n, first))


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
    preset: Preset,
    req: SimRequest,
    cond: Conditions,
    rng: random.Random,
    ids: str,
    answer: Answer | None = None,
) -> Plan:
    """Draw everything random about one response from RNG (so a seed reproduces it); a
    scripted ANSWER (loadtest.sim.scripted) replaces the random text or tool call."""
    cap = min(req.max_tokens or preset.max_output_tokens, preset.max_output_tokens)
    ttft = sample_ttft_s(preset, cond, req.input_tokens, rng)
    reasoning_n = 0
    if req.thinking_budget is not None:
        reasoning_n = min(preset.thinking_tokens, req.thinking_budget, cap - 1)
    elif preset.reasoning_tokens and req.api != "messages":
        reasoning_n = min(_around(preset.reasoning_tokens, rng), cap - 1)
    reasoning = text_tokens(rng, reasoning_n)
    room = cap - reasoning_n
    lead: tuple[str, ...] = ()
    if answer is not None:
        tool = None
        if answer.tool is not None:
            tool = ToolCall(f"call_{ids}", answer.tool, answer.arguments)
            lead, content = answer.text[:room], split_fragments(answer.arguments, rng)
        else:
            content = answer.text
        finish = "tool_calls" if tool is not None else "stop"
        if len(lead) + len(content) > room:
            content, finish = content[: room - len(lead)], "length"
    elif (tool := _tool_call(preset, req, rng, ids)) is not None:
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
        lead=lead,
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
