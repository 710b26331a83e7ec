"""What a call costs: the shipped price table (loadtest/prices.toml, dated rows with
their sources) looked up by model, a target's own `input_price` / `output_price`
overriding it, and the arithmetic from the usage the server reported.

Model names with a date or `-latest` suffix find their row (gpt-4o-mini-2024-07-18 is
gpt-4o-mini), as the simulator's presets do. A model with no row and no override has
no price: its cost is unknown, never zero.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol

from loadtest.schema import Cost

PER = 1_000_000  # prices are per million tokens
_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")


@dataclass(frozen=True)
class Price:
    """USD per million tokens, and where the figure comes from."""

    input: float
    output: float
    cached_input: float | None = None
    batch_discount: float = 0.0
    since: str = ""
    source: str = ""

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for a call that used these tokens: INPUT_TOKENS (every prompt token) at the
        input price, but the CACHED_TOKENS among them at the cached-input price, where
        the model has one."""
        cached = min(cached_tokens, input_tokens) if self.cached_input is not None else 0
        fresh = input_tokens - cached
        return (
            fresh * self.input + cached * (self.cached_input or 0.0) + output_tokens * self.output
        ) / PER


@cache
def table() -> dict[str, Price]:
    """The shipped rows, by model name."""
    raw = resources.files("loadtest").joinpath("prices.toml").read_text(encoding="utf-8")
    rows = tomllib.loads(raw)["models"]
    return {name: Price(**row) for name, row in rows.items()}


def cost_of(
    price: Price,
    input_tokens: int,
    output_tokens: int,
    calls: int,
    done: int,
    good: int | None,
    usd: float | None = None,
    cached_tokens: int = 0,
) -> Cost:
    """The summary's cost block: TOKENS (the completed calls' usage) at PRICE, or USD when
    the caller summed it (every attempt's, under a retry policy), per 1,000 of the CALLS
    recorded (a failed call costs what its usage says: none reported here), per DONE
    succeeded, and per GOOD within the [slo] (None without one); CACHED_TOKENS of the
    input at the cached price."""
    if usd is None:
        usd = price.cost(input_tokens, output_tokens, cached_tokens)
    out: Cost = {
        "usd": round(usd, 6),
        "per_1k_calls": round(1000 * usd / calls, 6) if calls else None,
        "per_success": round(usd / done, 8) if done else None,
        "input_price": price.input,
        "output_price": price.output,
        "source": price.source,
    }
    if good is not None:
        out["per_success_within_slo"] = round(usd / good, 8) if good else None
    if cached_tokens:
        out["cached_input_tokens"] = cached_tokens
    if price.cached_input is not None:
        out["cached_input_price"] = price.cached_input
    if price.batch_discount and calls:
        # what the same calls would cost through the provider's batch API (not streamed)
        out["batch_per_1k_calls"] = round(1000 * usd * (1 - price.batch_discount) / calls, 6)
    return out


class Priced(Protocol):
    """A target's name and its (resolved) prices (profile.Target, read only)."""

    @property
    def name(self) -> str: ...
    @property
    def input_price(self) -> float | None: ...
    @property
    def output_price(self) -> float | None: ...


def unpriced(targets: Iterable[Priced]) -> str:
    """What a cost ceiling or budget lacks among TARGETS: '' when every one has a price."""
    names = [x.name for x in targets if x.input_price is None or x.output_price is None]
    if not names:
        return ""
    return (
        "a price for every target (loadtest/prices.toml's row for its model, or its "
        f"input_price and output_price), none for {', '.join(names)}"
    )


def price_fields(
    model: str, given_in: float | None, given_out: float | None, given_cached: float | None = None
) -> dict[str, Any]:
    """A target's resolved input_price, output_price, cached_price, batch_discount and
    price_source (GIVEN_*: the profile's own figures)."""
    price = price_for(model, given_in, given_out)
    if price is None:
        return {
            "input_price": given_in,
            "output_price": given_out,
            "cached_price": given_cached,
            "price_source": "",
        }
    source = f"{price.source}, {price.since}" if price.since else price.source
    return {
        "input_price": price.input,
        "output_price": price.output,
        "cached_price": price.cached_input if given_cached is None else given_cached,
        "batch_discount": price.batch_discount,
        "price_source": source,
    }


def price_for(model: str, input_price: float | None, output_price: float | None) -> Price | None:
    """MODEL's price: the target's own figures where given (both needed, or one with the
    table's other), else the table's row; None when neither says."""
    row = table().get(model) or table().get(_SUFFIX.sub("", model))
    if input_price is not None and output_price is not None:
        return Price(input_price, output_price, source="the profile")
    if row is None:
        return None
    if input_price is None and output_price is None:
        return row
    return Price(
        input_price if input_price is not None else row.input,
        output_price if output_price is not None else row.output,
        row.cached_input,
        row.batch_discount,
        row.since,
        f"the profile and {row.source}",
    )
