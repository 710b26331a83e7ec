"""One worker process of a run over several (loadtest.workers starts and drives them).

A worker runs its share of the run (loadtest.share) on its own uvloop loop with its
own connections, and talks to its parent over one pipe:

    worker -> parent   ("ready", {"pid": ...})         sessions open, waiting to start
                       ("interval", WorkerInterval)    as each interval closes
                       ("end", WorkerEnd)              its engine has stopped
                       ("error", text)                 it is going down on an exception
    parent -> worker   ("start", perf_ns, wall_s)      the one start instant of all
                       ("stop", reason)                drain: no new requests
                       ("cancel",)                     stop now, in-flight abandoned

A terminal's Ctrl-C reaches the whole process group, so a worker ignores SIGINT and
SIGHUP: its parent decides, and says so on the pipe. A parent that is gone (the pipe
at its end) is a stop, then a cancel. Messages are pickled and sent by a thread of
their own, so a large interval never holds up the loop that times the streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from loadtest.engine import Engine
from loadtest.loop import new_event_loop
from loadtest.merge import WorkerEnd, WorkerInterval
from loadtest.records import Health, Interval, RequestRecord, TargetStatus
from loadtest.shard_io import ShardSpec
from loadtest.sinks import Fanout, LineBuffer, ResultsFile

ORPHAN_GRACE_S = 5.0  # after its parent is gone, in-flight requests get this long
Put = Callable[[tuple[Any, ...]], None]  # a message to the parent


class Outbox:
    """Messages to the parent, sent in order by a thread (pickling included)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.q: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._send_all, name="outbox", daemon=True)
        self.thread.start()

    def put(self, msg: tuple[Any, ...]) -> None:
        """Queue MSG for the parent."""
        self.q.put(msg)

    def _send_all(self) -> None:
        while (msg := self.q.get()) is not None:
            try:
                self.conn.send(msg)
            except OSError:  # the parent is gone: nobody left to tell
                return

    def close(self) -> None:
        """Send what is queued, then stop the thread."""
        self.q.put(None)
        self.thread.join()


class Forward:
    """The Sink that hands each closed interval, and the lines written since the last
    one, to the parent; times moved by SHIFT_NS onto the parent's clock."""

    def __init__(self, worker: int, put: Put, lines: LineBuffer) -> None:
        self.worker = worker
        self.put = put
        self.lines = lines
        self.shift_ns = 0

    def start(self, wall_s: float, start_ns: int) -> None:
        """Nothing: the parent gave the start."""

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing: the results file's sink has written the line."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Send the interval (its tallies and counters) with its lines."""
        d = self.shift_ns
        iv = dataclasses.replace(iv, start_ns=iv.start_ns + d, end_ns=iv.end_ns + d)
        h = dataclasses.replace(health, worker=self.worker, end_ns=health.end_ns + d)
        self.put(("interval", WorkerInterval(self.worker, iv, h, dict(status), self.lines.take())))


class Core:
    """One worker's engine and what it says, whatever carries the messages (a pipe to a
    local parent, a Ray actor's queue). DELIVER is called on the engine's loop.

    SAME_CLOCK: the parent's perf_counter is this one's (one machine), so its start
    instant is taken as is; else the instant is the parent's wall time, and every time
    sent back is moved onto the parent's clock."""

    def __init__(self, spec: ShardSpec, put: Put, same_clock: bool = True) -> None:
        self.spec = spec
        self.put = put
        self.same_clock = same_clock
        self.lines = LineBuffer()
        self.results = ResultsFile(self.lines, spec.profile.records)
        self.forward = Forward(spec.share.k, put, self.lines)
        self.engine = Engine(spec, Fanout([self.results, self.forward]))
        self.start: asyncio.Future[tuple[int, float]] | None = None
        self.task: asyncio.Task[Any] | None = None
        self.hello: dict[str, Any] = {"pid": os.getpid()}

    def deliver(self, msg: tuple[Any, ...]) -> None:
        """A message from the parent."""
        if msg[0] == "start" and self.start is not None and not self.start.done():
            parent_ns, wall_s = int(msg[1]), float(msg[2])
            here = parent_ns
            if not self.same_clock:  # the instant on this machine's monotonic clock
                here = time.perf_counter_ns() + int((wall_s - time.time()) * 1e9)
            self.forward.shift_ns = parent_ns - here
            self.start.set_result((here, wall_s))
        elif msg[0] == "stop":
            self.engine.stop(str(msg[1]))
        elif msg[0] == "cancel":
            self.cancel()

    def cancel(self) -> None:
        """Stop now: in-flight requests are abandoned (and counted)."""
        if self.task is not None:
            self.task.cancel()
        elif self.start is not None and not self.start.done():
            self.start.cancel()

    def parent_gone(self) -> None:
        """Nobody to report to: drain briefly, then go."""
        self.engine.stop("parent gone")
        if self.start is not None and not self.start.done():
            self.start.cancel()
        asyncio.get_running_loop().call_later(ORPHAN_GRACE_S, self.cancel)

    async def serve(self) -> None:
        """Get ready, say so, run from the start instant to the end, hand back the rest."""
        self.start = asyncio.get_running_loop().create_future()
        start = self.start

        async def ready() -> tuple[int, float]:
            self.put(("ready", self.hello))
            return await start

        task = self.task = asyncio.ensure_future(self.engine.run(ready))
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not start.done() or start.cancelled():
                return  # never started: nothing to hand back
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            result = self.engine.partial_result()
        self.results.close()  # a thinned file's last counts
        d = self.forward.shift_ns
        end = WorkerEnd(
            self.spec.share.k,
            result.targets,
            result.end_wall_s,
            result.end_ns + d,
            result.stopped_by,
            {t: (a + d, b + d) for t, (a, b) in result.windows.items()},
            result.recorder.steps,
            [(ns + d, text) for ns, text in result.sim_marks],
            result.prompt_lengths,
            self.lines.take(),
        )
        self.put(("end", end))


def main(spec: ShardSpec, conn: Connection) -> None:
    """A worker process's entry point (spawned, so SPEC and CONN come pickled)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGHUP})  # see workers
    out = Outbox(conn)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_over_pipe(Core(spec, out.put), conn))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))
        raise
    finally:
        out.close()


async def _over_pipe(core: Core, conn: Connection) -> None:
    """Serve, with the parent's messages read by a thread (blocking reads, as the outbox
    writes: the loop never watches the pipe's fd, which it could make non-blocking)."""
    loop = asyncio.get_running_loop()

    def read_all() -> None:
        try:
            while True:
                loop.call_soon_threadsafe(core.deliver, conn.recv())
        except (EOFError, OSError):
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(core.parent_gone)

    threading.Thread(target=read_all, name="inbox", daemon=True).start()
    await core.serve()
