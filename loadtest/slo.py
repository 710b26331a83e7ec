"""Per-request latency objectives and goodput: `[slo]` in a profile, e.g.

    [slo]
    ttft = "500ms"
    tpot = "50ms"
    e2e = "10s"

A request is good when it completed and each metric named is within its bound (as
`vllm bench serve --goodput` judges one); goodput is good requests per second of the
measured window. Thresholds judge a run's percentiles; this judges every request.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.config_reader import Table
from loadtest.metrics import E2E, TPOT, TTFT

KEYS = (TTFT, TPOT, E2E)


@dataclass(frozen=True)
class Slo:
    """Bounds in microseconds (the histograms' unit), metric -> at most."""

    bounds: tuple[tuple[str, int], ...]

    def met(self, values: dict[str, int]) -> bool:
        """Whether a completed request whose metrics are VALUES met every bound (a metric
        it does not have, such as TPOT of a one-token answer, is not held against it)."""
        return all(values.get(m, 0) <= most for m, most in self.bounds)

    def text(self) -> str:
        """'ttft <= 500 ms, e2e <= 10000 ms'."""
        return ", ".join(f"{m} <= {most / 1000:g} ms" for m, most in self.bounds)


def read_slo(t: Table | None) -> Slo | None:
    """The [slo] table T; None without one."""
    if t is None:
        return None
    bounds = tuple((key, round(t.duration(key, 0.0) * 1e6)) for key in KEYS if t.has(key))
    t.finish()
    if not bounds:
        raise t.error(None, f"at least one of {', '.join(KEYS)} in [slo]")
    return Slo(bounds)
