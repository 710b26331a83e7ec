"""Running the simulator: worker processes sharing one port, and a handle to start it from code."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import multiprocessing.synchronize
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from aiohttp import web

from loadtest.lifeline import die_with_parent
from loadtest.loop import new_event_loop, short_gc_pauses
from loadtest.sim.config import SimConfig
from loadtest.sim.metrics import block_size
from loadtest.sim.server import make_app


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT, so several workers can listen on one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    return s


async def _serve(
    cfg: SimConfig,
    sock: socket.socket,
    worker: int,
    anchor: float,
    ready: Callable[[], None],
    shared: tuple[object, int] | None,
) -> None:
    block, workers = shared if shared is not None else (None, 1)
    app = make_app(cfg, worker, anchor, block, workers)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=4096).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with short_gc_pauses(loop):
        ready()
        await stop.wait()
    await runner.cleanup()


def run_worker(
    cfg: SimConfig,
    host: str,
    port: int,
    worker: int,
    anchor: float,
    ready: Callable[[], None],
    shared: tuple[object, int] | None = None,
) -> None:
    """Serve on HOST:PORT (SO_REUSEPORT) until SIGINT or SIGTERM; SHARED: the /metrics
    block of all the workers and their number (loadtest.sim.metrics)."""
    sock = bind_socket(host, port)
    sock.listen(4096)
    sock.setblocking(False)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve(cfg, sock, worker, anchor, ready, shared))


PARENT_ENV = "LOADTEST_SIM_PARENT"  # set by Simulator: the pid the simulator must not outlive


def _child(
    cfg: SimConfig,
    host: str,
    port: int,
    worker: int,
    anchor: float,
    ready: mp.synchronize.Event,
    shared: tuple[object, int],
) -> None:
    assert mp.parent_process() is not None
    die_with_parent(mp.parent_process().pid or 0)  # type: ignore[union-attr]
    with contextlib.suppress(KeyboardInterrupt):
        run_worker(cfg, host, port, worker, anchor, ready.set, shared)


def serve(
    cfg: SimConfig, host: str, port: int, workers: int, on_ready: Callable[[str], None]
) -> None:
    """Run WORKERS processes on one port; call ON_READY(base_url) once all accept; block.

    The parent keeps a bound, non-listening socket with SO_REUSEPORT: it holds an
    ephemeral port for the workers to join, and the kernel balances connections
    among the listening ones only.
    """
    if PARENT_ENV in os.environ:  # started by Simulator: live no longer than it
        die_with_parent(int(os.environ.pop(PARENT_ENV)))
    anchor = time.time()
    if port != 0:
        # Without this, a second simulator on the same port would silently join the
        # first one's SO_REUSEPORT group and take half its connections.
        probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        # SO_REUSEADDR tolerates TIME_WAIT leftovers; a listening socket still refuses.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        finally:
            probe.close()
    holder = bind_socket(host, port)
    port = holder.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    if workers == 1:
        run_worker(cfg, host, port, 0, anchor, lambda: on_ready(url))
        holder.close()
        return
    ctx = mp.get_context("spawn")
    events = [ctx.Event() for _ in range(workers)]
    # Each worker writes its own row, /metrics adds them up: no lock needed.
    shared = (ctx.RawArray("d", block_size(len(cfg.table().names()), workers)), workers)
    procs = [
        ctx.Process(
            target=_child, args=(cfg, host, port, i, anchor, events[i], shared), daemon=True
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        for p, ev in zip(procs, events, strict=True):
            while not ev.wait(0.1):
                if not p.is_alive():
                    raise RuntimeError(f"simulator worker exited with code {p.exitcode}")
        on_ready(url)
        while all(p.is_alive() for p in procs):
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
        holder.close()


_URL = re.compile(r"(http://\S+:\d+)")


def _drain(pipe: IO[str] | None, sink: Callable[[str], object]) -> None:
    if pipe is None:
        return
    for line in pipe:
        sink(line)


class Simulator:
    """A simulator in a subprocess (never on the caller's event loop); a context manager.

    >>> with Simulator(seed=1) as sim:
    ...     client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-sim")
    """

    def __init__(
        self,
        config: str | Path | None = None,
        *,
        seed: int | None = None,
        workers: int = 1,
        time_warp: float | None = None,
        sim_start: str | None = None,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        args = [
            sys.executable,
            "-m",
            "loadtest",
            "mock",
            "--host",
            host,
            "--port",
            "0",
            "--workers",
            str(workers),
        ]
        if config is not None:
            args += ["--config", str(config)]
        if seed is not None:
            args += ["--seed", str(seed)]
        if time_warp is not None:
            args += ["--time-warp", repr(time_warp)]
        if sim_start is not None:
            args += ["--sim-start", sim_start]
        self._args = args
        self._env = {**os.environ, **(env or {})}
        self._timeout = start_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: deque[str] = deque(maxlen=50)
        self.base_url = ""

    @property
    def pid(self) -> int:
        """Process id of the simulator (its parent process when it runs several workers)."""
        return self._proc.pid if self._proc is not None else 0

    @property
    def openai_base_url(self) -> str:
        """Base URL for the openai SDK (ends in /v1)."""
        return self.base_url + "/v1"

    def start(self) -> Simulator:
        """Start the subprocess and wait until it accepts connections.

        It runs in a session of its own, so a terminal's Ctrl-C reaches only the run
        (which drains its requests against a simulator still serving them, then stops
        it), and it dies with this process, however that one ends."""
        proc = self._proc = subprocess.Popen(
            self._args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self._env, PARENT_ENV: str(os.getpid())},
            start_new_session=True,
        )
        first: queue.Queue[str] = queue.Queue()
        # Both pipes are drained for the life of the process so it never blocks on a full pipe.
        threading.Thread(target=_drain, args=(proc.stdout, first.put), daemon=True).start()
        threading.Thread(
            target=_drain, args=(proc.stderr, self._stderr.append), daemon=True
        ).start()
        try:
            line = first.get(timeout=self._timeout)
        except queue.Empty:
            line = ""
        match = _URL.search(line)
        if match is None:
            self.stop()
            tail = " | ".join(s.strip() for s in self._stderr if s.strip())
            raise RuntimeError(f"simulator did not start: {tail[-500:] or 'no output'}")
        self.base_url = match.group(1)
        return self

    def stop(self) -> None:
        """Stop the subprocess (SIGINT, then SIGKILL after 5 s)."""
        p = self._proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGINT)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(config: str | Path | None = None, **kwargs: object) -> Simulator:
    """Start a Simulator (see its arguments) and return it running."""
    return Simulator(config, **kwargs).start()  # type: ignore[arg-type]


__all__: Sequence[str] = ("Simulator", "bind_socket", "serve", "start_simulator")
