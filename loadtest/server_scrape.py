"""Scraping each target's server metrics over a run: at the start, at every interval
boundary, at the end.

A scrape during the load is fetched and parsed in a process of its own
(loadtest.scrape_child; one process, started as early as the run can, and only when an
interval can close before the load ends):
prometheus_client's parser is pure Python, some milliseconds a scrape, and in a thread
of this process it held the interpreter against the load's loop (its lag's maximum went
from about 1.5 to 7 ms). A thread here only hands it the boundaries and waits, so a slow
or hung metrics endpoint never holds up the load either. During the load only the lines
of the families loadtest knows, of the target's model, are parsed
(loadtest.server_metrics); the first and the last scrape, before the load and after its
drain, are parsed whole, to keep the other series raw.

A sink (loadtest.sinks.Sink) of the run: the engine, or the parent of worker processes,
calls interval() as each interval closes, and the scrape is queued.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from loadtest import redact
from loadtest.profile import Profile, Target
from loadtest.records import Health, Interval, RequestRecord, TargetStatus
from loadtest.scrape_child import nothing, quiet_child, read_server
from loadtest.server_metrics import Delta, Snapshot, delta

TIMEOUT_S = 2.0  # a scrape that takes longer is counted as failed; the next one goes on


def default_url(kind: str, base_url: str, simulator_url: str | None) -> str:
    """Where a target's server keeps its metrics when its profile names none:
    /metrics at the root of an openai-compatible server (vLLM, SGLang, TGI, llama.cpp
    all serve it there) and of the simulator; "" for the hosted APIs, which have none."""
    if simulator_url is not None:
        return simulator_url.rstrip("/") + "/metrics"
    if kind != "openai-compatible":
        return ""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root + "/metrics"


@dataclass
class Row:
    """One interval's worth of a server's metrics: from the scrape before to this one."""

    start_ns: int
    end_ns: int
    delta: Delta


@dataclass
class Track:
    """One target's scrapes."""

    target: str
    url: str
    model: str
    first: Snapshot | None = None  # whole, before the load
    end: Snapshot | None = None  # whole, after the drain
    last: Snapshot | None = None
    last_ns: int = 0
    rows: list[Row] = field(default_factory=list)
    scrapes: int = 0
    failures: int = 0
    note: str = ""  # why there are none, or the last failure


_ready: concurrent.futures.ProcessPoolExecutor | None = None  # prepare()'s, not yet taken


def may_scrape(targets: Iterable[Target]) -> bool:
    """Whether any of TARGETS has a server to scrape: a metrics_url, or none given
    where there is a default (the simulator, an openai-compatible server)."""
    return any(
        t.metrics_url
        or (t.metrics_url is None and (t.uses_simulator or t.kind == "openai-compatible"))
        for t in targets
    )


def during_load(p: Profile) -> bool:
    """Whether P scrapes while its load runs, in the scrape process: it has a server to
    scrape and an interval can close before the load ends (the run ends at its duration
    at the latest). A run no longer than one interval (a scheduled probe) is scraped
    only before and after its load, in its own thread: a process started for it would
    only compete with the load (and with other probes' loads) for a core."""
    return may_scrape(p.targets) and p.interval_s < p.duration_s


def prepare(p: Profile) -> None:
    """Start the scrape process now, when P needs one (during_load): a spawned
    interpreter takes some hundreds of ms, which a run that waits for its start instant
    (--start-at) spends waiting instead of after it; the next run's Scrapes takes it."""
    global _ready
    if _ready is None and during_load(p):
        _ready = _new_pool()
        _ready.submit(nothing)  # a first job is what starts a pool's process


def _new_pool() -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(
        1,
        mp_context=mp.get_context("spawn"),
        initializer=quiet_child,
        initargs=(os.getpid(),),
    )


def _take_pool() -> concurrent.futures.ProcessPoolExecutor:
    global _ready
    pool, _ready = _ready, None
    return pool or _new_pool()


class Scrapes:
    """The server metrics of every target that has a metrics URL, over one run."""

    def __init__(
        self,
        sources: Mapping[str, tuple[str, str]],
        timeout_s: float = TIMEOUT_S,
        during_load: bool = True,
    ) -> None:
        """SOURCES: target -> (metrics URL, model). DURING_LOAD: whether the run scrapes
        while its load runs (loadtest.server_scrape.during_load); when not, no scrape
        process is taken or started."""
        self._during_load = during_load
        self.tracks = {t: Track(t, url, model) for t, (url, model) in sources.items() if url}
        self._timeout = timeout_s
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.start_ns = 0

    def begin(self) -> list[str]:
        """The first scrape, before any load (whole, in this thread); the lines to say
        of the targets that have none (they are then left alone)."""
        if not self.tracks:
            return []
        if self._during_load:
            self._pool = _take_pool()  # for the scrapes during the load; it may still start
        said = []
        for track in list(self.tracks.values()):
            # Here, not in the pool: before the load there is nothing to disturb, and the
            # load need not wait for the scrape process to be up.
            self._scrape([track], whole=True, here=True)
            if track.first is None:
                said.append(
                    f"target {track.target}: no server metrics at "
                    f"{redact.url(track.url)} ({track.note})"
                )
        self._thread = threading.Thread(target=self._run, name="server-metrics", daemon=True)
        self._thread.start()
        return said

    def finish(self) -> None:
        """The last scrape, after the drain (whole); the thread ends."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(self._timeout * (len(self.tracks) + 1) + 1)
            self._thread = None
        live = [t for t in self.tracks.values() if t.first is not None]
        if live:
            self._scrape(live, whole=True, here=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def latest(self, target: str) -> Row | None:
        """TARGET's last interval, for the dashboard (any thread)."""
        track = self.tracks.get(target)
        if track is None or not track.rows:
            return None
        return track.rows[-1]

    # The Sink verbs: the run's start instant, each interval as it closes.
    def start(self, wall_s: float, start_ns: int) -> None:
        """The run's start (its intervals are timed from it)."""
        self.start_ns = start_ns

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing: the server's side is scraped, not taken from the requests."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Queue a scrape for the boundary at the end of IV."""
        self._queue.put(iv.end_ns)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            # Boundaries queued behind a slow scrape are one scrape now: it covers them.
            while item is not None and not self._queue.empty():
                item = self._queue.get_nowait()
            if item is None:
                return
            live = [t for t in self.tracks.values() if t.first is not None]
            self._scrape(live, whole=False)

    def _scrape(self, tracks: list[Track], whole: bool, here: bool = False) -> None:
        by_url: dict[str, list[Track]] = {}  # two targets on one server: one scrape
        for track in tracks:
            by_url.setdefault(track.url, []).append(track)
        for url, on in by_url.items():
            models = tuple(dict.fromkeys(t.model for t in on))
            if here or self._pool is None:
                at, got = read_server(url, models, whole, self._timeout)
            else:
                job = self._pool.submit(read_server, url, models, whole, self._timeout)
                try:
                    at, got = job.result(timeout=self._timeout + 30)
                except Exception as exc:  # the scrape process died, or never answered
                    at, got = time.perf_counter_ns(), f"scrape failed ({type(exc).__name__})"
            for track in on:
                self._took(track, at, got if isinstance(got, str) else got[track.model], whole)

    def _took(self, track: Track, at: int, snap: Snapshot | str, whole: bool) -> None:
        if isinstance(snap, str):
            track.failures += 1
            track.note = snap
            return
        track.scrapes += 1
        if track.first is None:
            track.first = snap
        elif whole:
            track.end = snap
        if track.last is not None:
            track.rows.append(Row(track.last_ns, at, delta(snap, track.last)))
        track.last, track.last_ns = snap, at
