"""`loadtest run`: simulator if needed, the engine, files written as it goes, the summary.

Files land in <out>/<UTC start>-<profile>/: run.json (the run's unique id, written
first), profile.json (the resolved profile),
results.jsonl (one line per request, flushed every interval), intervals.hlog (one
line per target and metric per interval, flushed as each closes), summary.json
(written at the end in every case: a crash or Ctrl-C loses at most the open interval),
then the report read back from them: index.html and hgrm/.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import orjson
from rich.console import Console

from loadtest import capacity, redact
from loadtest.engine import Engine
from loadtest.errors import RuntimeFailure, UserError
from loadtest.live import LiveView
from loadtest.loop import new_event_loop, stop_signals
from loadtest.profile import Profile
from loadtest.providers.build import builder
from loadtest.providers.registry import provider
from loadtest.rebuild import RUN_FILE
from loadtest.report.write import write_report
from loadtest.schema import Summary
from loadtest.server_scrape import Scrapes, default_url, during_load, prepare
from loadtest.server_summary import server_side
from loadtest.shard_io import RunResult, ShardSpec
from loadtest.share import fit_workers
from loadtest.sinks import (
    RESULTS_FILE,
    Fanout,
    IntervalLog,
    LineFile,
    ResultsFile,
    Sink,
    check_folder,
    stop_reason,
)
from loadtest.summary import summarize
from loadtest.workers import START_AHEAD_S, Flush, Workers, drive, usable_cores

if TYPE_CHECKING:
    from loadtest.prom_export import Exporter
    from loadtest.sim.process import Simulator


def run_dir_for(p: Profile, out: str | None) -> Path:
    """A new directory <out>/<UTC timestamp>-<profile name>."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path(out or p.out_dir)
    d = base / f"{stamp}-{p.name}"
    n = 1
    while d.exists():
        n += 1
        d = base / f"{stamp}-{p.name}-{n}"
    try:
        d.mkdir(parents=True)
    except OSError as exc:
        raise RuntimeFailure(f"{d}: cannot make the run's folder ({exc.strerror})") from None
    return d


class Stoppable(Protocol):
    """What drains a run: the engine, or the worker processes."""

    def stop(self, reason: str = "stopped") -> None: ...


class WriteStop:
    """What a sink's failed write does: one line on stderr, then the engine stops (and
    drains); the sink itself has stopped writing, so the run goes on to its summary."""

    def __init__(self) -> None:
        self.engine: Stoppable | None = None
        self.said = False

    def __call__(self, name: str, exc: OSError) -> None:
        if not self.said:
            self.said = True
            why = exc.strerror or str(exc)
            print(
                f"loadtest: {name}: {why[:1].lower()}{why[1:]}; writing stopped, the run drains",
                file=sys.stderr,
                flush=True,
            )
        if self.engine is not None:
            self.engine.stop(stop_reason(name, exc))


def write_summary(run_dir: Path, summary: Summary) -> None:
    """summary.json, whole or not at all (a temporary file renamed into place); a
    RuntimeFailure of one line when it cannot be written."""
    path, tmp = run_dir / "summary.json", run_dir / ".summary.json.tmp"
    try:
        tmp.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise RuntimeFailure(
            f"{path}: cannot write the summary ({exc.strerror}); results.jsonl and "
            "intervals.hlog keep what was recorded"
        ) from None


def _fit_workers(p: Profile, sim: Simulator | None) -> tuple[Profile, str]:
    """P with its worker count resolved: "auto" is one per core left after the
    simulator's processes (when it runs one), and no more than the load can use."""
    n = p.workers
    if n == 0:
        n = max(1, usable_cores() - (p.simulator.workers if sim is not None else 0))
    fitted, note = fit_workers(p, n)
    return dataclasses.replace(p, workers=fitted), note


def _scrapes(p: Profile, urls: dict[str, str], sim: Simulator | None) -> Scrapes:
    """The server metrics to scrape: each target's metrics_url, or its default."""
    sources = {}
    for t in p.targets:
        url = t.metrics_url
        if url is None:
            url = default_url(
                t.kind, urls[t.name], sim.base_url if t.uses_simulator and sim else None
            )
        sources[t.name] = (url, t.model)
    return Scrapes(sources, during_load=during_load(p))


def _env_for(p: Profile) -> tuple[tuple[str, str], ...]:
    """Only the API key variables the targets name (read once, passed to the shard)."""
    return tuple(
        (t.api_key_env, os.environ[t.api_key_env]) for t in p.targets if t.api_key_env in os.environ
    )


def run(
    p: Profile,
    console: Console,
    live: bool,
    quiet: bool,
    preflight: bool = False,
    scheduled_utc: str = "",
    cluster: str = "local",
    exporter: Exporter | None = None,
    sim_rate: float | None = None,
) -> tuple[Path, Summary]:
    """Run profile P to completion (or Ctrl-C); returns the run directory and summary.

    PREFLIGHT: first one request per target (preflight.check), which stops the run
    before any load and any file when a target refuses it for good. SCHEDULED_UTC: the
    instant it was meant to start (`--start-at`), kept in the summary (`run.scheduled_utc`).
    CLUSTER: "local" (worker processes of this machine) or "ray" (actors of the cluster
    at RAY_ADDRESS, loadtest.ray_cluster). EXPORTER: loadtest's own metrics for
    Prometheus (--metrics-port), fed by this run's intervals. SIM_RATE: the simulator
    clock's rate read before the run (`--start-at` on `--clock simulator`), for a run
    too short to measure it."""
    sim: Simulator | None = None
    urls: dict[str, str] = {}
    prepare(p)  # its process, when it needs one, starts beside the simulator's
    # Before the simulator starts, so that it inherits the raised limit too.
    p, cut = capacity.fit(p, capacity.raise_open_files())
    for line in cut:
        console.print(f"warning: {line}", markup=False, highlight=False)
    if any(t.uses_simulator for t in p.targets):
        from loadtest.sim.process import Simulator  # its server code is of no use otherwise

        s = p.simulator
        sim = Simulator(
            s.config, seed=s.seed, workers=s.workers, time_warp=s.time_warp, sim_start=s.sim_start
        ).start()
        if not quiet:
            console.print(f"built-in simulator at {sim.base_url}")
    try:
        spawn, ahead = None, START_AHEAD_S
        if cluster == "ray":
            from loadtest import ray_cluster

            cpus = ray_cluster.connect(None)
            if p.workers == 0:
                p = dataclasses.replace(p, workers=cpus)
            if p.workers > cpus:  # the rest would wait for a CPU until the ready timeout
                raise UserError(
                    f"--workers: {p.workers} asked, the Ray cluster has {cpus} CPUs "
                    "(one actor each)"
                )
            spawn, ahead = ray_cluster.spawner(), ray_cluster.START_AHEAD_S
        p, note = _fit_workers(p, sim)
        if note and not quiet:
            console.print(f"note: {note}", markup=False, highlight=False)
        for t in p.targets:
            if t.uses_simulator:
                assert sim is not None
                urls[t.name] = sim.base_url + provider(t.kind).sim_prefix
            else:
                urls[t.name] = t.base_url
        spec = ShardSpec(p, tuple(urls.items()), _env_for(p))
        for t in p.targets:  # a missing API key fails here, before any file is written
            builder(t, p.workload_of(t), urls[t.name], dict(spec.env))
        check_folder(Path(p.out_dir), "out_dir (--out)")  # before any request goes out
        if preflight:
            from loadtest import preflight as pre

            for line in pre.check(p, urls, dict(spec.env)):
                if not quiet:
                    console.print(f"warning: {line}", markup=False, highlight=False)
        scrapes = _scrapes(p, urls, sim)
        for line in scrapes.begin():
            if not quiet:
                console.print(f"note: {line}", markup=False, highlight=False)
        run_dir = run_dir_for(p, None)
        run_id = uuid.uuid4().hex  # on disk before the load: a killed run is still keyed
        (run_dir / RUN_FILE).write_bytes(orjson.dumps({"id": run_id}))
        (run_dir / "profile.json").write_bytes(  # no URL password, no credential header
            orjson.dumps(redact.profile(dataclasses.asdict(p)), option=orjson.OPT_INDENT_2)
        )
        view = LiveView(console, p.name, p.duration_s, live and console.is_terminal and not quiet)
        if quiet:
            view = LiveView(Console(quiet=True), p.name, p.duration_s, False)
        view.server = scrapes.latest
        stop = WriteStop()
        lines = LineFile(run_dir / RESULTS_FILE, stop)
        log = IntervalLog(run_dir, stop)
        # Quiet: no view at all (its per-interval work would be thrown away).
        shown: list[Sink] = [] if quiet else [view]
        if exporter is not None:
            exporter.begin(p.name, {t.name: (t.model, t.kind) for t in p.targets})
            shown.append(exporter)
        pool: Workers | None = None
        with view:
            try:
                if p.workers > 1 or spawn is not None:
                    sinks = Fanout([Flush(lines), log, scrapes, *shown])
                    pool = Workers(spec, p.workers, sinks, lines, spawn=spawn, start_ahead_s=ahead)
                    if not quiet:
                        pool.say = lambda line: console.print(line, markup=False, highlight=False)
                    stop.engine = pool
                    result = drive(pool)
                    interrupted = pool.stopped_by == "interrupted"
                else:
                    results = ResultsFile(lines, p.records)
                    result, interrupted = _drive(
                        spec, Fanout([results, log, scrapes, *shown]), console, quiet, stop
                    )
                    results.close()
            finally:
                lines.close()
                log.close()
                scrapes.finish()  # after the drain: what the server did to its end
            # Written before the view lets go of the terminal: if that terminal is gone
            # (SIGHUP), writing to it fails, and the files must already be complete.
            summary = summarize(result, p, interrupted, run_id, sim_rate)
            for name, track in scrapes.tracks.items():
                if name in summary["targets"]:
                    ts = summary["targets"][name]
                    ts["server"] = server_side(track, result.start_ns, p.warmup_s, ts["metrics"])
            if pool is not None:
                summary["client_health"]["workers"] = pool.report()
                if pool.partial:
                    summary["run"]["partial"] = True
            if scheduled_utc:
                summary["run"]["scheduled_utc"] = scheduled_utc
            write_summary(run_dir, summary)
            if exporter is not None:
                gates = [(f"{g['expr']} [{g['target']}]", g["ok"]) for g in summary["thresholds"]]
                exporter.finished(p.name, "ok" if summary["thresholds_ok"] else "failed", gates)
        try:
            write_report(run_dir)
        except OSError as exc:  # the summary and the data files stay; the report can be redone
            print(
                f"loadtest: report: cannot write in {run_dir} ({exc.strerror}); summary.json "
                f"is written (`loadtest report {run_dir}` later)",
                file=sys.stderr,
                flush=True,
            )
        return run_dir, summary
    finally:
        if sim is not None:
            sim.stop()


def _drive(
    spec: ShardSpec, sink: Fanout, console: Console, quiet: bool, stop: WriteStop
) -> tuple[RunResult, bool]:
    def say(line: str) -> None:
        if not quiet:
            console.print(line)

    async def main() -> tuple[RunResult, bool]:
        engine = Engine(spec, sink)
        stop.engine = engine
        engine_task = asyncio.ensure_future(engine.run())

        def now() -> None:  # second Ctrl-C: abandon in-flight requests, keep the rest
            engine_task.cancel()

        with stop_signals(engine.stop, now, say) as interrupts:
            try:
                return await asyncio.shield(engine_task), interrupts[0] > 0
            except asyncio.CancelledError:
                with contextlib.suppress(asyncio.CancelledError):
                    await engine_task
                return engine.partial_result(), True

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())
