"""The client watching itself: event-loop lag and CPU per interval, so a run whose
generator was the bottleneck says so instead of reporting its own delay as latency."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from loadtest.coarse import Coarse
from loadtest.records import LAG_MS, Health

LAG_PROBE_S = 0.02  # a sleep this long that wakes late measures the loop's lag


class SelfCheck:
    """Loop lag samples and CPU readings, closed into one Health per interval."""

    def __init__(self, perf_ns: Callable[[], int], cpu_s: Callable[[], float]) -> None:
        self.perf_ns = perf_ns
        self.cpu_s = cpu_s
        self.history: Coarse[Health] = Coarse(Health.then)  # bounded for week-long runs
        self.causes: Counter[str] = Counter()  # Health.cause -> intervals
        self._lags: list[float] = []
        self._mark = (0.0, 0)

    @property
    def saturated(self) -> int:
        """Intervals in which the client was saturated, whatever the cause."""
        return sum(self.causes.values())

    def start(self, now_ns: int) -> None:
        """CPU is counted from here."""
        self._mark = (self.cpu_s(), now_ns)

    def close(self, end_ns: int) -> Health:
        """The Health of the interval ending at END_NS (kept in history)."""
        # CPU over the time actually elapsed since the last reading (a late roll would
        # otherwise divide a longer CPU span by the nominal interval).
        cpu, now_ns = self.cpu_s(), self.perf_ns()
        prev_cpu, prev_ns = self._mark
        self._mark = (cpu, now_ns)
        lags = sorted(self._lags)
        self._lags = []
        health = Health(
            end_ns=end_ns,
            loop_lag_max_ms=lags[-1] if lags else 0.0,
            loop_lag_p99_ms=lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else 0.0,
            cpu_percent=100.0 * (cpu - prev_cpu) / max(1e-9, (now_ns - prev_ns) / 1e9),
            late_ms=sum(lag for lag in lags if lag >= LAG_MS),
            span_ms=(now_ns - prev_ns) / 1e6,
        )
        self.history.add(health)
        if health.cause:
            self.causes[health.cause] += 1
        return health

    async def probe(self) -> None:
        """Sample the loop's lag until cancelled."""
        # The engine's clock (perf_counter), not loop.time(): uvloop's ticks in whole ms.
        while True:
            t = self.perf_ns()
            await asyncio.sleep(LAG_PROBE_S)
            self._lags.append(max(0.0, (self.perf_ns() - t) / 1e6 - LAG_PROBE_S * 1000))
