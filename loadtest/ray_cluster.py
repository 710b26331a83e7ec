"""`loadtest run --cluster ray`: the run's workers as Ray actors across a cluster.

Each worker is an actor holding one CPU, placed with the SPREAD strategy so that the
cluster's nodes share the load. Inside, a thread runs the same worker as a local
process does (loadtest.worker.Core, on its own uvloop loop with its own connections);
the actor's methods only carry messages: `deliver` puts the parent's on that loop,
`next` hands back what the worker said since the last call (waiting up to a second),
so the driver keeps one `next` in flight per actor and hears each interval as it
closes. The start instant is the driver's wall time: each actor turns it into its own
monotonic clock, and its clock's offset to the driver's, measured when it is ready
(the best of five round trips), is reported per worker.

Ray is an optional extra (`pip install 'loadtest[ray]'`), imported here only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from loadtest.errors import UserError
from loadtest.loop import new_event_loop
from loadtest.shard_io import ShardSpec

NEXT_WAIT_S = 1.0  # how long one `next` call waits for the worker to say something
START_AHEAD_S = 2.0  # the start instant, this far ahead: messages cross a network
CLOCK_ROUNDS = 5


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            "--cluster ray: Ray is not installed here (pip install 'loadtest[ray]')"
        ) from None
    return ray


def connect(address: str | None) -> int:
    """Join the cluster at ADDRESS (RAY_ADDRESS when None; without either, Ray starts one
    on this machine); returns its CPUs."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        except ConnectionError as exc:
            where = address or os.environ.get("RAY_ADDRESS") or "a new local instance"
            raise UserError(f"--cluster ray: cannot join {where} ({exc})") from None
    return int(ray.cluster_resources().get("CPU", 1))


class ShardWorker:
    """The actor's body (made a Ray actor class by spawner())."""

    def __init__(self, spec: ShardSpec) -> None:
        self.q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.core: Any = None
        self.up = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(spec,), daemon=True)
        self.thread.start()

    def _run(self, spec: ShardSpec) -> None:
        from loadtest.worker import Core

        core = Core(spec, self.q.put, same_clock=False)
        core.hello["node"] = socket.gethostname()  # tells the nodes apart, as `ray status` does

        async def main() -> None:
            self.loop, self.core = asyncio.get_running_loop(), core
            self.up.set()
            await core.serve()

        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(main())
        except BaseException as exc:
            self.q.put(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))
        finally:
            self.up.set()
            self.q.put(("exit", "its worker thread ended"))

    def deliver(self, msg: tuple[Any, ...]) -> None:
        """A message from the driver, for the worker's loop."""
        self.up.wait(60)
        if self.loop is not None and self.core is not None:
            self.loop.call_soon_threadsafe(self.core.deliver, msg)

    def next(self, wait_s: float) -> list[tuple[Any, ...]]:
        """What the worker said since the last call (waiting up to WAIT_S for a word)."""
        out = []
        try:
            out.append(self.q.get(timeout=wait_s))
            while True:
                out.append(self.q.get_nowait())
        except queue.Empty:
            pass
        return out

    def clock(self) -> float:
        """This node's wall clock."""
        return time.time()


class RayHandle:
    """One actor, as loadtest.workers sees a worker."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.how = "still running"
        self.task: asyncio.Task[None] | None = None

    def listen(self, heard: Callable[[tuple[Any, ...]], None], gone: Callable[[], None]) -> None:
        """Keep one `next` in flight and hand on what comes back."""
        self.task = asyncio.get_running_loop().create_task(self._poll(heard, gone))

    async def _poll(
        self, heard: Callable[[tuple[Any, ...]], None], gone: Callable[[], None]
    ) -> None:
        try:
            while True:
                for msg in await self.actor.next.remote(NEXT_WAIT_S):
                    if msg[0] == "exit":
                        self.how = str(msg[1])
                        gone()
                        return
                    if msg[0] == "ready":
                        msg[1]["clock_offset_ms"] = await self._offset_ms()
                    heard(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the actor died, or its node did
            self.how = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            gone()

    async def _offset_ms(self) -> float:
        """The actor's wall clock minus ours, from the round trip that took least."""
        best: tuple[float, float] | None = None
        for _ in range(CLOCK_ROUNDS):
            t0 = time.time()
            there = await self.actor.clock.remote()
            t1 = time.time()
            if best is None or t1 - t0 < best[0]:
                best = (t1 - t0, there - (t0 + t1) / 2)
        assert best is not None
        return round(best[1] * 1000, 3)

    def send(self, msg: tuple[Any, ...]) -> None:
        """A remote call, not waited for."""
        self.actor.deliver.remote(msg)

    def ended(self) -> str:
        """How it ended, in words."""
        return self.how

    def kill(self) -> None:
        """ray.kill: the actor's process goes."""
        _ray().kill(self.actor, no_restart=True)

    def close(self, grace_s: float) -> None:
        """The actor's work is handed back (or given up): free its CPU."""
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(Exception):  # gone with its node: nothing left to free
            self.kill()


def spawner() -> Callable[[ShardSpec], RayHandle]:
    """Make one actor per worker spec, spread across the cluster's nodes."""
    ray = _ray()
    actor_class = ray.remote(num_cpus=1, max_concurrency=4)(ShardWorker)

    def spawn(spec: ShardSpec) -> RayHandle:
        actor = actor_class.options(scheduling_strategy="SPREAD", name=None, max_restarts=0).remote(
            spec
        )
        return RayHandle(actor)

    return spawn
