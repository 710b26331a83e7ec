"""The clocks a probe can be timed by: the machine's, or a running simulator's
(time-warped) clock read from its /sim/info endpoint. `loadtest schedule` fires cron on
one; `loadtest run --start-at` waits on one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from loadtest.errors import ConfigError, RuntimeFailure
from loadtest.instants import parse_instant
from loadtest.profile import Profile

MAX_NAP_S = 5.0  # real seconds between clock checks: a suspended laptop or a resync


class WallClock:
    """The machine's clock."""

    rate = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sync(self) -> None:
        return None


class SimulatorClock:
    """The simulated clock of a running `loadtest mock`, read from its /sim/info and
    extrapolated between reads with its time warp."""

    def __init__(self, origin: str, session: aiohttp.ClientSession) -> None:
        self.origin = origin
        self.session = session
        self.rate = 1.0
        self._at = datetime.now(UTC)
        self._mono = time.monotonic()

    async def sync(self) -> None:
        url = f"{self.origin}/sim/info"
        try:
            t0 = time.monotonic()
            async with self.session.get(url) as resp:
                info = await resp.json(content_type=None)
            t1 = time.monotonic()
            self.rate = float(info["time_warp"])
            self._at = parse_instant(info["sim_time"])
            self._mono = (t0 + t1) / 2
        except (aiohttp.ClientError, OSError, TimeoutError, KeyError, TypeError, ValueError) as e:
            raise RuntimeFailure(
                f"simulator clock: cannot read it at {url} "
                f"({type(e).__name__}); is `loadtest mock` running there?"
            ) from None

    def now(self) -> datetime:
        return self._at + timedelta(seconds=(time.monotonic() - self._mono) * self.rate)


class Clock(Protocol):
    """What the scheduler needs of a clock."""

    rate: float  # clock seconds per real second

    def now(self) -> datetime: ...

    async def sync(self) -> None: ...


def simulator_origin(profile: Profile) -> str:
    """scheme://host:port of the profile's first target, which must be a running simulator."""
    target = profile.targets[0]
    if target.uses_simulator:
        raise ConfigError(
            f"{profile.path}: the simulator clock needs a running `loadtest mock` as the first "
            'target\'s base_url (http://...), not "sim", which starts a fresh simulator per run'
        )
    u = urlsplit(target.base_url)
    # Without a user and password: the simulator takes none, and errors show this origin.
    return f"{u.scheme}://{u.netloc.rpartition('@')[2]}"


def clock_for(kind: str, profile: Profile, session: aiohttp.ClientSession) -> Clock:
    """The wall clock, or ("simulator") the clock of the simulator PROFILE targets."""
    return (
        SimulatorClock(simulator_origin(profile), session) if kind == "simulator" else WallClock()
    )


async def sleep_until(clock: Clock, t: datetime, stop: asyncio.Event | None = None) -> bool:
    """Wait until CLOCK reads T; False when STOP is set first."""
    stop = stop or asyncio.Event()
    while True:
        left = (t - clock.now()).total_seconds() / clock.rate
        if left <= 0:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(left, MAX_NAP_S))
            return False
        if left > MAX_NAP_S:
            await clock.sync()


async def wait_for_instant(kind: str, profile: Profile, t: datetime) -> float:
    """Block until the chosen clock reads T (now when it already has); its rate."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        clock = clock_for(kind, profile, session)
        await clock.sync()
        await sleep_until(clock, t)
        return clock.rate
