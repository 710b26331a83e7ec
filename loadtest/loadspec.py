"""How requests are offered to a target: a Load (closed or open loop, steps) and the
[load] table read into one."""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.arrivals import ARRIVALS
from loadtest.config_reader import Table


@dataclass(frozen=True)
class Step:
    """One step of a stepped load: a duration at a rate (open loop) or a concurrency."""

    duration_s: float
    rate: float | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class Load:
    """How requests are offered to one target."""

    mode: str = "closed"  # closed: `concurrency` loops; open: arrivals at `rate`
    concurrency: int = 4
    rate: float = 0.0  # requests/s of an open loop; 0 until one is given
    arrivals: str = "constant"
    burstiness: float = 1.0
    ramp_up_s: float = 0.0
    steps: tuple[Step, ...] = ()
    max_in_flight: int = 1000

    def levels(self, duration_s: float) -> tuple[tuple[float, float], ...]:
        """(duration s, level) of each step, level in req/s (open) or streams (closed);
        without steps, one step of DURATION_S at the load's rate or concurrency."""
        if not self.steps:
            return ((duration_s, self.rate if self.mode == "open" else float(self.concurrency)),)
        open_loop = self.mode == "open"
        return tuple(
            (s.duration_s, float((s.rate if open_loop else s.concurrency) or 0)) for s in self.steps
        )

    def level_at(self, elapsed_s: float, duration_s: float) -> float:
        """The level in force ELAPSED_S into a run of DURATION_S (the last step's level
        once the steps are over): the one answer the engine and the dashboard share."""
        steps = self.levels(duration_s)
        end = 0.0
        for length, level in steps:
            end += length
            if elapsed_s < end:
                return level
        return steps[-1][1]


def read_load(t: Table | None, base: Load) -> Load:
    """The [load] table T (or a target's) over BASE; BASE itself when there is none."""
    if t is None:
        return base
    mode = t.string("mode", base.mode, choices=("closed", "open"))
    steps = []
    for s in t.tables("steps"):
        step = Step(
            s.duration("duration", 0.0) if s.has("duration") else _missing(s, "duration"),
            s.number("rate", 0.0, min=0) if s.has("rate") else None,
            s.integer("concurrency", 0, min=0) if s.has("concurrency") else None,
        )
        wanted = "rate" if mode == "open" else "concurrency"
        if getattr(step, wanted) is None:
            raise s.error(wanted, f"a {wanted} for each step of a {mode}-loop load")
        s.finish()
        steps.append(step)
    load = Load(
        mode=mode,
        concurrency=t.integer("concurrency", base.concurrency, min=1),
        rate=t.number("rate", base.rate, positive=True),
        arrivals=t.string("arrivals", base.arrivals, choices=ARRIVALS),
        burstiness=t.number("burstiness", base.burstiness, positive=True),
        ramp_up_s=t.duration("ramp_up", base.ramp_up_s, positive=False),
        steps=tuple(steps) or base.steps,
        max_in_flight=t.integer("max_in_flight", base.max_in_flight, min=1),
    )
    if load.mode == "open" and not load.steps and load.rate <= 0:
        raise t.error("rate", "a rate in requests/s for an open-loop load (none given)")
    t.finish()
    return load


def _missing(t: Table, key: str) -> float:
    raise t.error(key, "a duration such as 30s")
