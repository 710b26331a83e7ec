"""How a model does agent-shaped tasks: its habits (a preset's Behaviour) and the odds of
each outcome of one answer, in loadtest.validators' names (pure).

The odds are drawn once per answer; loadtest.sim.answers then writes an answer that the
validators judge as exactly the outcome drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from loadtest.validators import (
    INVALID_JSON,
    NO_TOOL_CALL,
    OK,
    REFUSAL,
    SCHEMA_VIOLATION,
    WRONG_ARGUMENTS,
    WRONG_TOOL,
)

UNSCRIPTED = "unscripted"  # not a known task, or a request the behaviour does not cover

# Ours, not the article's: a missed tool choice on a clear task is a text answer a
# quarter of the time (the model answers from what it knows) and another tool otherwise.
NO_CALL_SHARE = 0.25
# Ours: how a model that lost track of an agent task's earlier state goes wrong at a
# step: it calls a tool of another step, stops early with text, or gets a value wrong.
LOST_SHARES = ((WRONG_TOOL, 0.4), (NO_TOOL_CALL, 0.3), (WRONG_ARGUMENTS, 0.3))
_LOST_CAP = 0.95


@dataclass(frozen=True)
class Behaviour:
    """A model's habits on tool, extraction and agent tasks (rates in 0..1). The defaults
    are a model that never slips; a preset sets what its model gets wrong."""

    tool_accuracy: float = 1.0  # the right tool on a clear task, first attempt
    overlap_accuracy: float = 1.0  # the right one of two tools that overlap in meaning
    invalid_json: float = 0.0  # arguments (or an extraction) that do not parse
    schema_violation: float = 0.0  # valid JSON that breaks the schema
    nested_violation: float = 0.0  # added to the above when the answer nests an object
    wrong_arguments: float = 0.0  # a wrong value on a clear task
    invents: float = 0.0  # underspecified: invent the missing value (else ask, or null)
    depth: int = 100  # agent steps held before the per-step failure starts to rise
    depth_slope: float = 0.0  # per-step failure added for each step past `depth`
    lead_tokens: int = 0  # median words of text before a tool call (0: none)
    final_tokens: int = 12  # median words of an agent task's final answer


@dataclass(frozen=True)
class Situation:
    """What the odds of one answer depend on."""

    extraction: bool = False
    step: int = 1  # 1-based step of an agent task (1 for a single call)
    overlap: bool = False  # the expected tool has a lookalike among the offered ones
    nested: bool = False  # the right answer holds a nested object
    underspecified: bool = False
    failable: bool = True  # some check can fail while the answer stays schema-valid
    json_can_break: bool = True  # False where the API hands over parsed JSON (Messages)
    alone: bool = False  # the expected tool is the only one offered: none to mix it up with


Odds = tuple[tuple[str, float], ...]


def lost_rate(b: Behaviour, step: int) -> float:
    """The chance that step STEP (1-based) of an agent task fails from its depth alone."""
    return min(_LOST_CAP, b.depth_slope * max(0, step - b.depth))


def odds(b: Behaviour, s: Situation) -> Odds:
    """The chance of each outcome of one answer, summing to 1, in a fixed order."""
    if s.extraction:
        return _extraction(b, s)
    if s.underspecified:
        return ((WRONG_ARGUMENTS, b.invents), (REFUSAL, 1.0 - b.invents))
    out = dict.fromkeys((WRONG_TOOL, NO_TOOL_CALL, INVALID_JSON, SCHEMA_VIOLATION), 0.0)
    out[WRONG_ARGUMENTS] = 0.0
    lost = lost_rate(b, s.step)
    for outcome, share in LOST_SHARES:
        if outcome == WRONG_ARGUMENTS and not s.failable:
            outcome = NO_TOOL_CALL
        out[outcome] += lost * share
    accuracy = b.overlap_accuracy if s.overlap else b.tool_accuracy
    miss = (1.0 - lost) * (1.0 - accuracy)
    # A lookalike is what a confused model calls instead; it does not fall back to text.
    no_call = 0.0 if s.overlap else NO_CALL_SHARE
    out[WRONG_TOOL] += miss * (1.0 - no_call)
    out[NO_TOOL_CALL] += miss * no_call
    right = (1.0 - lost) * accuracy
    _well_formed(b, s, right, out, b.wrong_arguments)
    if s.alone:
        out[NO_TOOL_CALL] += out[WRONG_TOOL]
        out[WRONG_TOOL] = 0.0
    return tuple(out.items())


def _extraction(b: Behaviour, s: Situation) -> Odds:
    out = dict.fromkeys((INVALID_JSON, SCHEMA_VIOLATION, WRONG_ARGUMENTS), 0.0)
    # Underspecified: inventing the missing field is the wrong value; null is right.
    _well_formed(b, s, 1.0, out, b.invents if s.underspecified else b.wrong_arguments)
    return tuple(out.items())


def _well_formed(
    b: Behaviour, s: Situation, mass: float, out: dict[str, float], wrong: float
) -> None:
    """Split MASS (answers with the right tool) into broken JSON, schema, values and ok."""
    broken = mass * b.invalid_json if s.json_can_break else 0.0
    mass -= broken
    violation = mass * min(1.0, b.schema_violation + (b.nested_violation if s.nested else 0.0))
    mass -= violation
    wrong_values = mass * wrong if s.failable else 0.0
    out[INVALID_JSON] += broken
    out[SCHEMA_VIOLATION] += violation
    out[WRONG_ARGUMENTS] += wrong_values
    out[OK] = mass - wrong_values


def draw(table: Odds, rng: random.Random) -> str:
    """One outcome of TABLE (one draw of RNG)."""
    x = rng.random()
    for outcome, p in table:
        if x < p:
            return outcome
        x -= p
    return next((o for o, p in reversed(table) if p > 0), OK)
