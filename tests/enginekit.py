"""The engine on virtual time, for tests: a fake Sender whose requests take a known
time, a Sink that keeps what it is given, and a run of a profile on a VirtualTimeLoop."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from virtual_time import VirtualTimeLoop

from loadtest.engine import Engine
from loadtest.errors import classify_status
from loadtest.loadspec import Load
from loadtest.profile import Profile, Target
from loadtest.records import Health, Interval, RequestRecord, TargetStatus
from loadtest.shard_io import Clocks, RunResult, ShardSpec
from loadtest.share import ONE, Share, shard_profile
from loadtest.workload import Prompt


@dataclass
class FakeServer:
    """A Sender whose requests each take SERVICE_S(target, index) virtual seconds, with
    their first token halfway; FAIL(target, index) picks the ones that fail."""

    loop: VirtualTimeLoop
    service_s: Callable[[str, int], float]
    fail: Callable[[str, int], bool] = lambda target, i: False
    status: int = 500  # of a failed request
    retry_after: str | None = None  # sent with failures
    tokens: int = 8
    count: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak: list[tuple[float, int]] = field(default_factory=list)  # (time, in flight) at sends

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, target: str, prompt: Prompt, r: RequestRecord) -> str:
        i = self.count[target]
        self.count[target] += 1
        r.sent_ns = self.loop.ns()
        self.in_flight += 1
        self.peak.append((self.loop.elapsed, self.in_flight))
        try:
            half = self.service_s(target, i) / 2
            await asyncio.sleep(half)
            if self.fail(target, i):
                r.status, r.error, r.end_ns = (
                    self.status,
                    classify_status(self.status),
                    self.loop.ns(),
                )
                if self.retry_after is not None:
                    r.ratelimit = {"retry-after": self.retry_after}
                return f"HTTP {self.status}: refused"
            r.first_byte_ns = r.first_token_ns = r.first_output_ns = self.loop.ns()
            r.event_ns.append(r.first_token_ns)
            await asyncio.sleep(half)
            r.last_token_ns = r.end_ns = self.loop.ns()
            r.event_ns.append(r.last_token_ns)
            r.status, r.output_tokens = 200, self.tokens
            return ""
        finally:
            self.in_flight -= 1


@dataclass
class Collect:
    """A Sink that keeps what it is given."""

    records: list[tuple[RequestRecord, bool]] = field(default_factory=list)
    statuses: list[dict[str, TargetStatus]] = field(default_factory=list)

    def start(self, wall_s: float, start_ns: int) -> None:
        """Nothing to do at the start."""

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        self.records.append((r, measured))

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        self.statuses.append(dict(status))

    def outcomes(self, measured_only: bool = True) -> Counter[str]:
        """Each request's outcome, as results.jsonl would name it."""
        return Counter(
            "ok" if r.error is None else str(r.error)
            for r, measured in self.records
            if measured or not measured_only
        )


def engine_profile(load: Load, names: tuple[str, ...] = ("a",), **kw: object) -> Profile:
    """A profile of targets NAMES under LOAD; KW sets other Profile fields."""
    targets = tuple(Target(n, "openai", "m", "http://127.0.0.1:9/v1", "KEY") for n in names)
    args: dict[str, object] = {"duration_s": 2.0, "interval_s": 1.0} | kw
    return Profile("t", "t.toml", targets, load=load, **args)  # type: ignore[arg-type]


def run_virtual(
    profile: Profile,
    service_s: Callable[[str, int], float],
    cancel_after_s: float | None = None,
    share: Share = ONE,
    **server: object,
) -> tuple[RunResult, Collect, FakeServer, float]:
    """Run PROFILE on virtual time (as worker SHARE of several, when given); returns the
    result, the sink, the server and the virtual time at which the run returned."""
    loop = VirtualTimeLoop()
    fake = FakeServer(loop, service_s, **server)  # type: ignore[arg-type]
    sink = Collect()
    clocks = Clocks(perf_ns=loop.ns, wall_s=lambda: 1.8e9 + loop.elapsed, cpu_s=lambda: 0.0)
    urls = tuple((t.name, t.base_url) for t in profile.targets)
    eng = Engine(ShardSpec(shard_profile(profile, share), urls, (), share), sink, fake, clocks)

    async def main() -> RunResult:
        task = asyncio.ensure_future(eng.run())
        if cancel_after_s is None:
            return await task
        await asyncio.sleep(cancel_after_s)
        task.cancel()  # what a second Ctrl-C does
        with pytest.raises(asyncio.CancelledError):
            await task
        return eng.partial_result()

    try:
        result = loop.run_until_complete(main())
        return result, sink, fake, loop.elapsed
    finally:
        loop.close()
