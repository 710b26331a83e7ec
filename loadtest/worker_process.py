"""A worker of `run --workers N` in a spawned process of this machine (loadtest.workers
drives it through this handle; loadtest.worker is the process's own side)."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from loadtest.shard_io import ShardSpec


class ProcessHandle:
    """A worker in a spawned process of this machine, with a pipe to it."""

    def __init__(self, spec: ShardSpec) -> None:
        ctx = mp.get_context("spawn")
        self.conn, there = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main,
            args=(spec, there),
            name=f"loadtest-worker-{spec.share.k}",
            daemon=True,  # and so killed by multiprocessing at exit, should all else fail
        )
        # Born with SIGINT blocked (the mask is inherited), so a Ctrl-C while it imports
        # cannot kill it before it has learnt to leave Ctrl-C to its parent.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGHUP})
        try:
            self.proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        there.close()
        self._loop: asyncio.AbstractEventLoop | None = None

    def listen(self, heard: Callable[[tuple[Any, ...]], None], gone: Callable[[], None]) -> None:
        """Read the pipe on a thread of its own (blocking reads: an fd the event loop
        watches may be made non-blocking, and a large message then fails half read),
        handing each message to the loop; watch the process's exit from the loop."""
        loop = self._loop = asyncio.get_running_loop()

        def read_all() -> None:
            try:
                while True:
                    loop.call_soon_threadsafe(heard, self.conn.recv())
            except (EOFError, OSError):  # it has ended (its end of the pipe is closed)
                pass

        self._reader = threading.Thread(target=read_all, name="worker-pipe", daemon=True)
        self._reader.start()

        def on_exit() -> None:
            self._unwatch(self.proc.sentinel)
            self._reader.join(5)  # its last words are handed over first
            self.proc.join(1)
            loop.call_soon(gone)  # after every message the reader handed over

        loop.add_reader(self.proc.sentinel, on_exit)

    def _unwatch(self, fd: int) -> None:
        if self._loop is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(fd)

    def send(self, msg: tuple[Any, ...]) -> None:
        """Down the pipe."""
        with contextlib.suppress(OSError):
            self.conn.send(msg)

    def ended(self) -> str:
        """Its exit status, in words."""
        return _exit_text(self.proc.exitcode)

    def kill(self) -> None:
        """SIGKILL."""
        self.proc.kill()

    def close(self, grace_s: float) -> None:
        """Joined within GRACE_S, else killed and joined."""
        self._unwatch(self.proc.sentinel)
        self.proc.join(grace_s)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_main(spec: ShardSpec, conn: Connection) -> None:
    from loadtest.worker import main  # imported in the child only

    main(spec, conn)
