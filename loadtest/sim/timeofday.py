"""Simulated clock (time warp) and diurnal latency profiles by hour of day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from loadtest.instants import zone as zone  # the lookup lives there; sim.config imports it here

WEEKDAYS = (0, 1, 2, 3, 4)  # Monday=0, as datetime.weekday() counts


@dataclass(frozen=True)
class Conditions:
    """Multipliers in force at one instant: on the TTFT median, on the tail (sigma), on speed."""

    ttft: float = 1.0
    tail: float = 1.0
    speed: float = 1.0


NEUTRAL = Conditions()


def business_hours(peak: float, start: int = 9, end: int = 17) -> tuple[float, ...]:
    """24 hourly multipliers: PEAK for hours [start, end), 1.0 elsewhere.

    A step, not a smooth curve, on purpose: the injected peak/off-peak ratio stays
    well defined, so a report that recovers it can be checked against it.
    """
    return tuple(peak if start <= h < end else 1.0 for h in range(24))


FLAT = tuple(1.0 for _ in range(24))


@dataclass(frozen=True)
class Incident:
    """A one-off slowdown between two simulated instants (an outage hour, a bad deploy):
    its multipliers apply on top of the diurnal ones, so that an alert on the history
    (`loadtest check`) can be tested against an hour that is worse than that hour usually
    is."""

    start: datetime
    end: datetime
    ttft: float = 1.0
    tail: float = 1.0
    speed: float = 1.0

    def holds(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def conditions_at(
    diurnal: Diurnal | None, incidents: tuple[Incident, ...], instant: datetime
) -> Conditions:
    """The multipliers in force at INSTANT: the diurnal ones times any incident's."""
    c = diurnal.conditions(instant) if diurnal else NEUTRAL
    for i in incidents:
        if i.holds(instant):
            c = Conditions(c.ttft * i.ttft, c.tail * i.tail, c.speed * i.speed)
    return c


@dataclass(frozen=True)
class Diurnal:
    """Hour-of-day multipliers in a named time zone, applied on the given weekdays only."""

    tz: str = "America/New_York"
    days: tuple[int, ...] = WEEKDAYS
    ttft: tuple[float, ...] = FLAT
    tail: tuple[float, ...] = FLAT
    speed: tuple[float, ...] = FLAT

    def conditions(self, instant: datetime) -> Conditions:
        """The multipliers at INSTANT (an aware datetime)."""
        local = instant.astimezone(zone(self.tz))
        if local.weekday() not in self.days:
            return NEUTRAL
        h = local.hour
        return Conditions(self.ttft[h], self.tail[h], self.speed[h])


@dataclass(frozen=True)
class SimClock:
    """Maps real wall-clock seconds to a simulated instant.

    sim = sim_start + (wall - anchor_wall) * warp. Every worker process gets the same
    anchor, so they agree on the simulated time without talking to each other.
    """

    anchor_wall_s: float
    sim_start: datetime = field(default_factory=lambda: datetime.now(UTC))
    warp: float = 1.0

    def at(self, wall_s: float) -> datetime:
        """The simulated instant (UTC) at real wall time WALL_S."""
        return self.sim_start + timedelta(seconds=(wall_s - self.anchor_wall_s) * self.warp)

    def wall_for(self, instant: datetime) -> float:
        """The real wall time at which the simulated clock reads INSTANT."""
        return self.anchor_wall_s + (instant - self.sim_start).total_seconds() / self.warp
