"""One worker process of a run over several (loadtest.workers starts and drives them).

A worker runs its share of the run (loadtest.share) on its own uvloop loop with its
own connections, and talks to its parent over one pipe:

    worker -> parent   ("ready", pid)                  sessions open, waiting to start
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
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from loadtest.engine import Engine
from loadtest.loop import new_event_loop
from loadtest.merge import WorkerEnd, WorkerInterval
from loadtest.records import Health, Interval, RequestRecord, TargetStatus
from loadtest.shard_io import ShardSpec
from loadtest.sinks import Fanout, LineBuffer, ResultsFile

ORPHAN_GRACE_S = 5.0  # after its parent is gone, in-flight requests get this long


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
    one, to the parent."""

    def __init__(self, worker: int, out: Outbox, lines: LineBuffer) -> None:
        self.worker = worker
        self.out = out
        self.lines = lines

    def start(self, wall_s: float, start_ns: int) -> None:
        """Nothing: the parent gave the start."""

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing: the results file's sink has written the line."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Send the interval (its tallies and counters) with its lines."""
        h = dataclasses.replace(health, worker=self.worker)
        part = WorkerInterval(self.worker, iv, h, dict(status), self.lines.take())
        self.out.put(("interval", part))


def main(spec: ShardSpec, conn: Connection) -> None:
    """A worker process's entry point (spawned, so SPEC and CONN come pickled)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGHUP})  # see workers
    out = Outbox(conn)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve(spec, conn, out))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))
        raise
    finally:
        out.close()


async def _serve(spec: ShardSpec, conn: Connection, out: Outbox) -> None:
    loop = asyncio.get_running_loop()
    k = spec.share.k
    lines = LineBuffer()
    results = ResultsFile(lines, spec.profile.records)
    engine = Engine(spec, Fanout([results, Forward(k, out, lines)]))
    start: asyncio.Future[tuple[int, float]] = loop.create_future()
    task: asyncio.Task[Any] | None = None

    def cancel() -> None:
        if task is not None:
            task.cancel()

    def on_pipe() -> None:
        try:
            while conn.poll():
                msg = conn.recv()
                if msg[0] == "start" and not start.done():
                    start.set_result((int(msg[1]), float(msg[2])))
                elif msg[0] == "stop":
                    engine.stop(str(msg[1]))
                elif msg[0] == "cancel":
                    cancel()
        except (EOFError, OSError):  # the parent is gone: drain briefly, then go
            loop.remove_reader(conn.fileno())
            engine.stop("parent gone")
            if not start.done():
                start.cancel()
            loop.call_later(ORPHAN_GRACE_S, cancel)

    async def ready() -> tuple[int, float]:
        out.put(("ready", os.getpid()))
        return await start

    loop.add_reader(conn.fileno(), on_pipe)
    task = asyncio.ensure_future(engine.run(ready))
    try:
        result = await asyncio.shield(task)
    except asyncio.CancelledError:
        if not start.done() or start.cancelled():
            return  # never started: nothing to hand back
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        result = engine.partial_result()
    finally:
        with contextlib.suppress(OSError, ValueError):
            loop.remove_reader(conn.fileno())
    results.close()  # a thinned file's last counts
    out.put(
        (
            "end",
            WorkerEnd(
                k,
                result.targets,
                result.end_wall_s,
                result.end_ns,
                result.stopped_by,
                result.windows,
                result.recorder.steps,
                result.sim_marks,
                result.prompt_lengths,
                lines.take(),
            ),
        )
    )
