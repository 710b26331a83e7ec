"""A run's cost ceiling (`max_cost`, `--max-cost`): the spend so far, estimated from each
finished request's reported usage at its target's price (every attempt's, under a
retry policy, at the price of the target it went to), warm-up requests included (they
are billed too); the engine stops the run once it reaches the ceiling."""

from __future__ import annotations

from loadtest.pricing import PER
from loadtest.profile import Profile
from loadtest.records import RequestRecord


class Spend:
    """USD spent so far against the profile's ceiling (none: never over)."""

    def __init__(self, p: Profile) -> None:
        self.ceiling = p.max_cost
        self.usd = 0.0
        self._prices = {t.name: (t.input_price or 0.0, t.output_price or 0.0) for t in p.targets}

    def add(self, r: RequestRecord) -> bool:
        """Count R's usage; True once the spend has reached the ceiling."""
        if not self.ceiling:
            return False
        # Every input token at the input price, cached ones too: a ceiling that errs, errs high.
        if r.billed:  # every attempt's usage, at the price of the target it went to
            for name, i, o in r.billed:
                pin, pout = self._prices[name]
                self.usd += (i * pin + o * pout) / PER
        elif r.error is None:
            pin, pout = self._prices[r.target]
            self.usd += (r.input_tokens * pin + r.output_tokens * pout) / PER
        return self.usd >= self.ceiling

    def reason(self) -> str:
        """Why the run stopped, for its stopped_by."""
        return f"cost ceiling (${self.usd:.4f} of ${self.ceiling:g})"
