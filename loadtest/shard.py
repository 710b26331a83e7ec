"""A shard as a plain function: a picklable ShardSpec in, a picklable ShardOutput out.

This is the unit a multi-process (or Ray) runner distributes: each worker calls
`run_shard` on its own event loop and hands back encoded interval histograms, its
per-request records and its counters; `merge_histograms` adds the shards' intervals
up. `loadtest run` itself drives one shard in-process, writing files as it goes.
Records are kept in memory here, which suits bounded shards; a long distributed run
should stream them instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from loadtest.engine import Engine
from loadtest.loop import new_event_loop
from loadtest.records import Health, Interval, RequestRecord, TargetStatus
from loadtest.shard_io import ShardSpec
from loadtest.tally import release


@dataclass
class ShardOutput:
    """Everything one shard produced (picklable)."""

    intervals: list[Interval] = field(default_factory=list)
    records: list[tuple[RequestRecord, str, bool]] = field(default_factory=list)
    health: list[Health] = field(default_factory=list)
    status: dict[str, TargetStatus] = field(default_factory=dict)  # per target, at the end
    start_wall_s: float = 0.0
    end_wall_s: float = 0.0
    stopped_by: str = ""


class _Collect:
    """A Sink that keeps everything for the parent."""

    def __init__(self, out: ShardOutput) -> None:
        self.out = out

    def start(self, wall_s: float, start_ns: int) -> None:
        self.out.start_wall_s = wall_s

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        self.out.records.append((r, detail, measured))

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        self.out.intervals.append(iv)
        self.out.health.append(health)


def run_shard(spec: ShardSpec) -> ShardOutput:
    """Run SPEC to its end on a new event loop (in this process or a worker's)."""
    out = ShardOutput()
    engine = Engine(spec, _Collect(out))
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        result = runner.run(engine.run())
    out.end_wall_s = result.end_wall_s
    out.stopped_by = result.stopped_by
    out.status = result.targets
    return out


def merge_histograms(outputs: Iterable[ShardOutput]) -> dict[str, dict[str, HdrHistogram]]:
    """Target -> metric -> the histogram of every interval of every shard added up."""
    merged: dict[str, dict[str, HdrHistogram]] = {}
    for out in outputs:
        for iv in out.intervals:
            for target, metrics in iv.histograms.items():
                for metric, encoded in metrics.items():
                    h = HdrHistogram.decode(encoded)
                    have = merged.setdefault(target, {}).get(metric)
                    if have is None:
                        merged[target][metric] = h
                    else:
                        have.add(h)
                        release(h)
    return merged
