"""What a shard takes and gives: its spec (picklable, so shards can run in other
processes), its clocks, the Sender that sends its requests, and its result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from loadtest.profile import Profile
from loadtest.prompt_length import Lengths
from loadtest.recorder import Recorder
from loadtest.records import Health, RequestRecord, TargetCounts, TargetStatus
from loadtest.share import ONE, Share
from loadtest.workload import Prompt


class Sender(Protocol):
    """Sends one request and stamps R (sent_ns first); returns a short error detail."""

    async def open(self) -> None: ...
    async def send(self, target: str, prompt: Prompt, r: RequestRecord) -> str: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs; picklable."""

    profile: Profile
    base_urls: tuple[tuple[str, str], ...]  # target name -> resolved base URL
    env: tuple[tuple[str, str], ...] = ()  # API key variables, read by the parent
    share: Share = ONE  # which worker of how many (the profile is its part already)


@dataclass(frozen=True)
class Clocks:
    """The engine's time sources: monotonic ns for every duration, wall and CPU seconds
    for labels and the self-check. Tests pass virtual ones."""

    perf_ns: Callable[[], int] = time.perf_counter_ns
    wall_s: Callable[[], float] = time.time
    cpu_s: Callable[[], float] = time.process_time


@dataclass
class RunResult:
    """What a finished shard hands back."""

    recorder: Recorder
    targets: dict[str, TargetStatus]
    start_wall_s: float
    end_wall_s: float
    start_ns: int
    end_ns: int
    stopped_by: str
    health: list[Health] = field(default_factory=list)  # coarse: see loadtest.coarse
    timeline: list[tuple[int, int, dict[str, TargetCounts]]] = field(default_factory=list)
    sim_marks: list[tuple[int, str]] = field(default_factory=list)
    intervals: int = 0  # closed in all (health and timeline may hold coarser points)
    saturated_intervals: int = 0
    saturated_by: dict[str, int] = field(default_factory=dict)  # Health.cause -> intervals
    # target -> its measured window (perf ns): warm-up's end to when it stopped sending
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    prompt_lengths: Lengths | None = None  # how prompts were sized, per target
