"""A per-interval series kept to a bounded number of points, however long the run.

A week-long probe closes hundreds of thousands of intervals; keeping a point for each
grew memory and summary.json with every one. Here, once the series holds LIMIT
points, neighbours are merged pairwise: each point then covers twice as many
intervals, and every later point the same number. Totals are kept exactly; only the
resolution of the series drops, and the hlog on disk still has every interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
LIMIT = 2048  # points kept: a 2 s interval keeps full resolution for over an hour


class Coarse(Generic[T]):
    """Points of a series, at most LIMIT, each covering `span` intervals (the newest
    one possibly fewer); MERGE(earlier, later) makes one point of two."""

    def __init__(self, merge: Callable[[T, T], T], limit: int = LIMIT) -> None:
        if limit < 2:
            raise ValueError("a coarse series needs room for two points")
        self.merge = merge
        self.limit = limit
        self.span = 1  # intervals per full point
        self.intervals = 0  # intervals added in all
        self._full: list[T] = []
        self._open: T | None = None  # the newest point, still filling up to span
        self._open_n = 0

    def add(self, x: T) -> None:
        """One more interval, the latest."""
        self.intervals += 1
        self._open = x if self._open is None else self.merge(self._open, x)
        self._open_n += 1
        if self._open_n < self.span:
            return
        self._full.append(self._open)
        self._open, self._open_n = None, 0
        if len(self._full) >= self.limit:
            pairs = zip(self._full[0::2], self._full[1::2], strict=False)
            merged = [self.merge(a, b) for a, b in pairs]
            if len(self._full) % 2:  # an odd one out waits as the open point
                self._open, self._open_n = self._full[-1], self.span
            self._full = merged
            self.span *= 2

    def points(self) -> list[T]:
        """The series, oldest first."""
        return self._full if self._open is None else [*self._full, self._open]

    def __len__(self) -> int:
        return len(self._full) + (self._open is not None)
