"""Capacity model for self-hosted servers: a bounded batch, a FIFO queue, slower decode."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Capacity:
    """Up to max_streams decode at once; each extra stream slows every stream by `slowdown`.

    Per-stream token rate = base / (1 + slowdown * (active - 1)), the shape a
    continuous-batching server shows as its batch grows. Requests beyond
    max_streams wait in a FIFO queue, so TTFT grows with the queue.
    """

    max_streams: int = 64
    slowdown: float = 0.01

    def gap_factor(self, active: int) -> float:
        """Multiplier on the inter-token gap with ACTIVE streams decoding."""
        return 1.0 + self.slowdown * max(0, active - 1)


class CapacityGate:
    """Admission to the batch for one model in one worker process."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        """Requests waiting for a batch slot."""
        return len(self._waiters)

    async def acquire(self) -> None:
        """Wait for a batch slot (FIFO)."""
        if self.active < self.capacity.max_streams and not self._waiters:
            self.active += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed to us as we were cancelled
            else:
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        """Give the slot to the next waiter, or free it."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes on; active stays the same
                return
        self.active -= 1

    def gap_factor(self) -> float:
        """Current slowdown of the inter-token gap."""
        return self.capacity.gap_factor(self.active)
