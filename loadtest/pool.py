"""A closed loop's workers, started as its level first asks for them.

A huge concurrency never builds its workers up front (a billion coroutines are
gigabytes before the first request): they are started a batch per turn of the event
loop, so a stop is seen between batches, and only up to the level in force; a
stepped load is looked at again every POLL_S for a higher step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

BATCH = 500  # workers started per turn of the event loop
POLL_S = 0.05  # how often a stepped load is looked at again (here, and by parked workers)


async def follow_level(
    level: Callable[[], int],
    worker: Callable[[int], Coroutine[Any, Any, None]],
    over: Callable[[], bool],
    stopping: asyncio.Event,
    stepped: bool,
) -> None:
    """Keep worker(0) .. worker(level() - 1) started until OVER(), then wait for them
    all; a worker's exception ends the pool (and cancels the others) with it."""
    workers: list[asyncio.Task[None]] = []
    try:
        while not over():
            want = level()
            while len(workers) < want and not over():
                for _ in range(min(BATCH, want - len(workers))):
                    workers.append(asyncio.create_task(worker(len(workers))))
                await asyncio.sleep(0)
            if not stepped:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_S)
        await asyncio.gather(*workers)
    finally:
        for t in workers:
            t.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
