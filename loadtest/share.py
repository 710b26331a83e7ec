"""How one run's load is split over N worker processes, so that the union of what the
workers offer is exactly what the profile asks for with one.

- Closed loop: each level (the concurrency, each step's) is divided, the remainder
  going one stream each to the first workers: 10 streams over 4 workers are 3, 3, 2, 2.
- Open loop: every worker computes the whole arrival schedule from the seed, as one
  process would, and sends the arrivals dealt to it in order (arrival i to worker
  i mod N): the offered process is the same intended send times with 1 or N workers.
- A request count, the in-flight cap and a spending cap are divided as the levels are.
- Prompts: worker k's j-th request of a target takes the target's prompt j*N + k, so
  the targets still get the same prompts at the same places of their sequences.

Pure: a Share is the pair (k, n); shard_profile gives worker k its part of a profile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from loadtest.loadspec import Load, Step
from loadtest.profile import Profile


def part(total: int, k: int, n: int) -> int:
    """Worker K's part of TOTAL over N workers (remainder to the first ones)."""
    return total // n + (k < total % n)


@dataclass(frozen=True)
class Share:
    """Worker K of N."""

    k: int = 0
    n: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.k < self.n:
            raise ValueError(f"worker {self.k} of {self.n}")

    @property
    def deal(self) -> tuple[int, None, int]:
        """islice's start, stop and step over the arrivals: this worker's, in order."""
        return (self.k, None, self.n)

    def prompt(self, j: int) -> int:
        """The index, in its target's sequence, of this worker's J-th prompt."""
        return j * self.n + self.k

    def load(self, load: Load) -> Load:
        """This worker's part of LOAD: closed-loop levels divided, open-loop arrivals
        dealt (the rate stays, the in-flight cap is divided)."""
        if self.n == 1:
            return load
        in_flight = max(1, part(load.max_in_flight, self.k, self.n))
        if load.mode == "open":
            return dataclasses.replace(load, max_in_flight=in_flight)
        steps = tuple(
            Step(s.duration_s, s.rate, part(s.concurrency or 0, self.k, self.n)) for s in load.steps
        )
        return dataclasses.replace(
            load,
            concurrency=part(load.concurrency, self.k, self.n),
            steps=steps,
            max_in_flight=in_flight,
        )


ONE = Share()  # a run in one process


def shard_profile(p: Profile, share: Share) -> Profile:
    """Profile P as worker SHARE runs it. Gates are judged by the parent on the merged
    numbers (abort_on_fail is its job); the error budget is each worker's own."""
    if share.n == 1:
        return p
    targets = tuple(
        dataclasses.replace(t, load=share.load(t.load)) if t.load is not None else t
        for t in p.targets
    )
    return dataclasses.replace(
        p,
        load=share.load(p.load),
        targets=targets,
        requests=part(p.requests, share.k, share.n),
        max_cost=p.max_cost / share.n,
        abort_on_fail=False,
    )


def fit_workers(p: Profile, n: int) -> tuple[int, str]:
    """How many of N workers profile P can use, and a note when fewer: none may be left
    without a request to send (a request count below N), an in-flight slot, or a stream
    (every target's closed loop narrower than N)."""
    most = n
    if p.requests:
        most = min(most, p.requests)
    loads = [p.load_of(t) for t in p.targets]
    # Each worker holds one in-flight slot at least: no more workers than slots.
    most = min(most, min(x.max_in_flight for x in loads))
    if all(x.mode == "closed" for x in loads):
        widest = max(max([x.concurrency, *(s.concurrency or 0 for s in x.steps)]) for x in loads)
        most = min(most, widest)
    most = max(1, most)
    if most == n:
        return n, ""
    return most, f"{n} workers asked, {most} used: the load has work for no more"
