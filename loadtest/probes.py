"""How far a time-of-day report can be trusted: the stored runs (probes) behind it, which
of them the client's own delay spoiled (left out by default), and the weekday-by-hour
cells that hold too few samples or more probes than were fired for their hour (probes
that started late, in the next hour). `load_probes` reads the store; the rest is pure."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from loadtest.instants import format_instant, parse_instant
from loadtest.peak import DAYS

MIN_CELL_SAMPLES = 20  # TTFT samples a weekday-by-hour cell needs for its P95 to mean much
BUSY_SHARE = 0.10  # more left-out probes than this share: the machine was too busy

Cell = tuple[int, int]  # (weekday, hour) in the report's zone


@dataclass(frozen=True)
class Probe:
    """One stored run of one target."""

    target: str
    start: datetime  # in the report's zone (a simulator's clock for runs against one)
    scheduled: datetime | None  # the fire it was started for, when a scheduler started it
    saturated: bool  # its client's own delay is in its latencies


@dataclass
class Trust:
    """What one target's report stands on."""

    probes: int = 0  # kept
    left_out: int = 0  # saturated, not counted (unless asked)
    few: list[Cell] = field(default_factory=list)  # under MIN_CELL_SAMPLES samples
    crowded: list[Cell] = field(default_factory=list)  # more probes than fires

    def notes(self) -> list[str]:
        """Sentences for the report, none when all is well."""
        out = []
        if self.left_out:
            out.append(
                f"Left out {self.left_out} of {self.probes + self.left_out} probes whose "
                "client was saturated (its own delay was in their latencies; "
                "--include-saturated keeps them)."
            )
        if self.few:
            out.append(
                f"{len(self.few)} cells hold fewer than {MIN_CELL_SAMPLES} TTFT samples: "
                f"{_cells(self.few)}; their percentiles are rough."
            )
        if self.crowded:
            out.append(
                f"{len(self.crowded)} cells hold more probes than were fired for their hour "
                f"(probes that started late): {_cells(self.crowded)}."
            )
        return out

    def busy(self) -> bool:
        """Whether so many probes were spoiled that the machine was too busy for them."""
        total = self.probes + self.left_out
        return total > 0 and self.left_out / total > BUSY_SHARE


def _cells(cells: list[Cell], most: int = 8) -> str:
    named = [f"{DAYS[d]} {h:02d}" for d, h in sorted(cells)[:most]]
    return ", ".join(named) + (f" and {len(cells) - most} more" if len(cells) > most else "")


def load_probes(
    db: sqlite3.Connection, tz: ZoneInfo, since: datetime | None, targets: Iterable[str] = ()
) -> list[Probe]:
    """Every stored run of TARGETS (all when empty) since SINCE, times in TZ."""
    wanted = set(targets)
    floor = format_instant(since) if since else ""
    out = []
    for target, start, scheduled, saturated in db.execute(
        "SELECT target, start_utc, scheduled_utc, client_saturated FROM runs"
        " WHERE start_utc >= ? ORDER BY start_utc",
        (floor,),
    ):
        if wanted and target not in wanted:
            continue
        fired = parse_instant(scheduled).astimezone(tz) if scheduled else None
        out.append(Probe(target, parse_instant(start).astimezone(tz), fired, bool(saturated)))
    return out


def judge(
    probes: list[Probe],
    samples: dict[str, dict[Cell, float]],
    include_saturated: bool = False,
) -> dict[str, Trust]:
    """Per target: its kept and left-out probes, and its doubtful cells; SAMPLES: the
    report's TTFT sample count per cell of each target."""
    out: dict[str, Trust] = {}
    for target in sorted({p.target for p in probes} | set(samples)):
        mine = [p for p in probes if p.target == target]
        kept = [p for p in mine if include_saturated or not p.saturated]
        trust = out[target] = Trust(probes=len(kept), left_out=len(mine) - len(kept))
        trust.few = sorted(c for c, n in samples.get(target, {}).items() if n < MIN_CELL_SAMPLES)
        started = Counter(cell_of(p.start) for p in kept)
        fired = Counter(cell_of(p.scheduled) for p in kept if p.scheduled is not None)
        if fired:  # a scheduler's probes: each knows its fire
            trust.crowded = sorted(c for c, n in started.items() if n > fired.get(c, 0))
    return out


def cell_of(t: datetime) -> Cell:
    """The (weekday, hour) of T, in its own zone."""
    return (t.weekday(), t.hour)
