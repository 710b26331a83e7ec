"""How a run is split over worker processes (loadtest.share): the parts as tables, and
on virtual time, that N workers offer exactly the load one process offers."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from enginekit import engine_profile, run_virtual

from loadtest.loadspec import Load, Step
from loadtest.share import Share, fit_workers, part, shard_profile


@pytest.mark.parametrize(
    ("total", "n", "parts"),
    [
        (10, 4, [3, 3, 2, 2]),
        (8, 2, [4, 4]),
        (1, 2, [1, 0]),
        (0, 3, [0, 0, 0]),
        (7, 1, [7]),
        (1000, 3, [334, 333, 333]),
    ],
)
def test_parts_add_up_with_the_remainder_first(total: int, n: int, parts: list[int]) -> None:
    assert [part(total, k, n) for k in range(n)] == parts
    assert sum(parts) == total


def test_closed_loop_levels_are_divided_and_open_loop_arrivals_dealt() -> None:
    closed = Load(
        concurrency=5, steps=(Step(2.0, concurrency=3), Step(2.0, concurrency=8)), max_in_flight=9
    )
    loads = [Share(k, 2).load(closed) for k in range(2)]
    assert [x.concurrency for x in loads] == [3, 2]
    assert [[s.concurrency for s in x.steps] for x in loads] == [[2, 4], [1, 4]]
    assert [x.max_in_flight for x in loads] == [5, 4]
    opened = Load(mode="open", rate=40.0, max_in_flight=3)
    parts = [Share(k, 4).load(opened) for k in range(4)]
    assert {x.rate for x in parts} == {40.0}  # every worker knows the whole schedule
    assert [x.max_in_flight for x in parts] == [1, 1, 1, 1]  # never 0: one each at least
    dealt = [list(itertools.islice(range(10), *Share(k, 3).deal)) for k in range(3)]
    assert dealt == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(Share(k, 3).prompt(j) for k in range(3) for j in range(4)) == list(range(12))
    assert Share().load(closed) is closed
    with pytest.raises(ValueError, match="worker 2 of 2"):
        Share(2, 2)


def test_a_shard_profile_divides_counts_and_leaves_gates_to_the_parent() -> None:
    p = engine_profile(Load(concurrency=6), ("a", "b"), requests=7, max_cost=3.0)
    p = dataclasses.replace(
        p,
        abort_on_fail=True,
        targets=(p.targets[0], dataclasses.replace(p.targets[1], load=Load(concurrency=3))),
    )
    shards = [shard_profile(p, Share(k, 2)) for k in range(2)]
    assert [s.requests for s in shards] == [4, 3]
    assert [s.max_cost for s in shards] == [1.5, 1.5]
    assert [s.load.concurrency for s in shards] == [3, 3]
    assert [s.targets[1].load.concurrency for s in shards if s.targets[1].load] == [2, 1]
    assert not any(s.abort_on_fail for s in shards)
    assert shard_profile(p, Share()) is p


@pytest.mark.parametrize(
    ("load", "requests", "asked", "used"),
    [
        (Load(concurrency=8), 0, 4, 4),
        (Load(concurrency=2), 0, 4, 2),  # no worker without a stream
        (Load(concurrency=8), 3, 4, 3),  # none without a request to send
        (Load(concurrency=1, steps=(Step(1.0, concurrency=6),)), 0, 4, 4),
        (Load(mode="open", rate=5.0), 0, 6, 6),
        (Load(mode="open", rate=5.0), 1, 6, 1),
        (Load(mode="open", rate=5.0, max_in_flight=3), 0, 6, 3),
    ],
)
def test_no_more_workers_than_the_load_can_use(
    load: Load, requests: int, asked: int, used: int
) -> None:
    n, note = fit_workers(engine_profile(load, requests=requests), asked)
    assert n == used
    assert (note == "") == (used == asked)


def _intended_ms(load: Load, n: int, seed: int) -> list[float]:
    """The intended send times (ms from the start) of every worker of N, merged."""
    out: list[float] = []
    for k in range(n):
        result, sink, _, _ = run_virtual(
            engine_profile(load, duration_s=3.0, warmup_s=0.5, seed=seed),
            lambda t, i: 0.05,
            share=Share(k, n),
        )
        start = result.start_ns
        out += [round((r.intended_ns - start) / 1e6, 6) for r, _ in sink.records]
    return sorted(out)


@pytest.mark.parametrize("arrivals", ["constant", "poisson", "gamma"])
def test_open_loop_arrivals_are_the_same_with_one_worker_or_three(arrivals: str) -> None:
    load = Load(
        mode="open",
        rate=40.0,
        arrivals=arrivals,
        burstiness=0.5 if arrivals == "gamma" else 1.0,
        steps=(Step(1.0, rate=20.0), Step(2.0, rate=60.0)),
    )
    one = _intended_ms(load, 1, seed=3)
    assert len(one) > 100
    assert _intended_ms(load, 3, seed=3) == one
    if arrivals != "constant":  # a seed of its own is another schedule
        assert _intended_ms(load, 3, seed=4) != one


def test_closed_loop_streams_add_up_to_the_level_at_every_step() -> None:
    load = Load(concurrency=5, steps=(Step(1.5, concurrency=5), Step(1.5, concurrency=9)))
    peaks: list[dict[int, int]] = []
    for k in range(2):
        _, _, fake, _ = run_virtual(
            engine_profile(load, duration_s=3.0), lambda t, i: 0.1, share=Share(k, 2)
        )
        first, second = (
            max((n for t, n in fake.peak if lo <= t < hi), default=0)
            for lo, hi in ((0.2, 1.4), (1.7, 2.9))
        )
        peaks.append({0: first, 1: second})
    assert [p[0] for p in peaks] == [3, 2] and [p[1] for p in peaks] == [5, 4]
