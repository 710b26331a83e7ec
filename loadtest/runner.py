"""`loadtest run`: simulator if needed, the engine, files written as it goes, the summary.

Files land in <out>/<UTC start>-<profile>/: profile.json (the resolved profile),
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
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loadtest import hlog
from loadtest.engine import Engine, Health, ShardSpec
from loadtest.live import LiveView
from loadtest.loop import new_event_loop
from loadtest.metrics import RequestRecord
from loadtest.profile import Profile
from loadtest.providers.build import builder
from loadtest.recorder import Interval
from loadtest.report.tables import threshold_rows
from loadtest.report.write import write_report
from loadtest.schema import Summary
from loadtest.summary import summarize

if TYPE_CHECKING:
    from loadtest.sim.process import Simulator


class FileSink:
    """Writes results.jsonl and intervals.hlog as the run goes; feeds the live view."""

    def __init__(self, run_dir: Path, view: LiveView) -> None:
        self.results: IO[bytes] = open(run_dir / "results.jsonl", "wb")  # noqa: SIM115
        self.hlog: IO[str] = open(run_dir / "intervals.hlog", "w", encoding="utf-8")  # noqa: SIM115
        self.view = view
        self.engine: Engine | None = None  # for the live view's counters
        self.start_ns = 0

    def start(self, wall_s: float, start_ns: int) -> None:
        """The run has started: write the log header."""
        self.start_ns = start_ns
        self.hlog.write(hlog.header(wall_s))

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """One line per request; times in ms from the run's start."""
        t0 = self.start_ns
        line: dict[str, Any] = {
            "target": r.target,
            "intended_ms": round((r.intended_ns - t0) / 1e6, 3),
            "sent_ms": round((r.sent_ns - t0) / 1e6, 3) if r.sent_ns else None,
            "status": r.status,
            "error": r.error,
            "measured": measured,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "tokens_counted": r.tokens_counted,
        }
        line.update(
            {
                k: round(v / 1000, 3)
                for k, v in metrics.items()
                if k not in ("output_tokens", "output_speed")
            }
        )
        if detail:
            line["detail"] = detail
        self.results.write(orjson.dumps(line) + b"\n")

    def interval(self, iv: Interval, health: Health) -> None:
        """Append the interval to the log, flush both files, redraw."""
        for text in hlog.lines(iv, self.start_ns):
            self.hlog.write(text)
        self.hlog.flush()
        self.results.flush()
        if self.engine is not None:
            self.view.update(iv, health, self.engine.runs, (iv.end_ns - self.start_ns) / 1e9)

    def close(self) -> None:
        """Flush and close both files."""
        self.results.close()
        self.hlog.close()


def run_dir_for(p: Profile, out: str | None) -> Path:
    """A new directory <out>/<UTC timestamp>-<profile name>."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path(out or p.out_dir)
    d = base / f"{stamp}-{p.name}"
    n = 1
    while d.exists():
        n += 1
        d = base / f"{stamp}-{p.name}-{n}"
    d.mkdir(parents=True)
    return d


def _env_for(p: Profile) -> tuple[tuple[str, str], ...]:
    """Only the API key variables the targets name (read once, passed to the shard)."""
    return tuple(
        (t.api_key_env, os.environ[t.api_key_env]) for t in p.targets if t.api_key_env in os.environ
    )


def run(p: Profile, console: Console, live: bool, quiet: bool) -> tuple[Path, Summary]:
    """Run profile P to completion (or Ctrl-C); returns the run directory and summary."""
    sim: Simulator | None = None
    urls: dict[str, str] = {}
    if any(t.uses_simulator for t in p.targets):
        from loadtest.sim.process import Simulator  # its server code is of no use otherwise

        s = p.simulator
        sim = Simulator(
            s.config, seed=s.seed, workers=s.workers, time_warp=s.time_warp, sim_start=s.sim_start
        ).start()
        if not quiet:
            console.print(f"built-in simulator at {sim.base_url}")
    try:
        for t in p.targets:
            if t.uses_simulator:
                assert sim is not None
                urls[t.name] = sim.base_url if t.kind == "anthropic" else sim.openai_base_url
            else:
                urls[t.name] = t.base_url
        spec = ShardSpec(p, tuple(urls.items()), _env_for(p))
        for t in p.targets:  # a missing API key fails here, before any file is written
            builder(t, p.workload, urls[t.name], dict(spec.env))
        run_dir = run_dir_for(p, None)
        (run_dir / "profile.json").write_bytes(
            orjson.dumps(dataclasses.asdict(p), option=orjson.OPT_INDENT_2)
        )
        view = LiveView(console, p.name, p.duration_s, live and console.is_terminal and not quiet)
        if quiet:
            view = LiveView(Console(quiet=True), p.name, p.duration_s, False)
        sink = FileSink(run_dir, view)
        with view:
            try:
                result, interrupted = _drive(spec, sink, console, quiet)
            finally:
                sink.close()
            # Written before the view lets go of the terminal: if that terminal is gone
            # (SIGHUP), writing to it fails, and the files must already be complete.
            summary = summarize(result, p, interrupted)
            (run_dir / "summary.json").write_bytes(
                orjson.dumps(summary, option=orjson.OPT_INDENT_2)
            )
        write_report(run_dir)
        return run_dir, summary
    finally:
        if sim is not None:
            sim.stop()


def _drive(spec: ShardSpec, sink: FileSink, console: Console, quiet: bool) -> tuple[Any, bool]:
    state = {"interrupts": 0}

    async def main() -> Any:
        engine = Engine(spec, sink)
        sink.engine = engine
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_sigint() -> None:
            state["interrupts"] += 1
            if state["interrupts"] == 1:
                if not quiet:
                    console.print(
                        "stopping: no new requests, waiting for those in flight "
                        "(Ctrl-C again to stop now)"
                    )
                engine.stop("interrupted")
            else:
                task.cancel()

        loop.add_signal_handler(signal.SIGINT, on_sigint)
        loop.add_signal_handler(signal.SIGTERM, engine.stop, "terminated")
        # A closed terminal or a dropped SSH session: drain and write, as for SIGTERM.
        loop.add_signal_handler(signal.SIGHUP, engine.stop, "hangup")
        engine_task = asyncio.ensure_future(engine.run())
        try:
            return await asyncio.shield(engine_task)
        except asyncio.CancelledError:
            # Second Ctrl-C: abandon in-flight requests, keep what was recorded.
            engine_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await engine_task
            return engine.partial_result()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
            loop.remove_signal_handler(signal.SIGHUP)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        result = runner.run(main())
    return result, state["interrupts"] > 0


def print_summary(console: Console, summary: Summary, run_dir: Path) -> None:
    """The table printed at the end of a run (times in ms)."""
    table = Table(
        title=f"{summary['profile']}: {summary['run']['duration_s']:.0f} s, "
        f"stopped by {summary['run']['stopped_by']}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    any_errors = any(t["errors"] for t in summary["targets"].values())
    cols = (
        ["target", "ok"]
        + (["failed"] if any_errors else [])
        + ["req/s", "tok/s", "TTFT 50/95/99", "ITL 50/99", "E2E 50/95"]
        + (["errors"] if any_errors else [])
    )
    for c in cols:
        # Numbers keep their width; a long target name is what gets cut.
        numeric = c not in ("target", "errors")
        table.add_column(
            c,
            justify="right" if numeric else "left",
            no_wrap=c != "errors",
            min_width=len(c) if numeric else None,
            overflow="ellipsis",
        )
    for name, t in summary["targets"].items():
        m = t["metrics"]

        def ps(metric: str, *keys: str, _m: dict[str, Any] = m) -> str:
            return "/".join(
                "-" if _m[metric].get(k) is None else f"{_m[metric][k]:.0f}" for k in keys
            )

        failed = [str(t["requests"]["failed"])] if any_errors else []
        row = [
            name,
            str(t["requests"]["completed"]),
            *failed,
            f"{t['rates']['requests_per_s']:.2f}",
            f"{t['rates']['output_tokens_per_s']:.0f}",
            ps("ttft", "p50", "p95", "p99"),
            ps("itl", "p50", "p99"),
            ps("e2e", "p50", "p95"),
        ]
        if any_errors:
            row.append(", ".join(f"{k} {v}" for k, v in t["errors"].items()) or "-")
        table.add_row(*row)
    console.print(table)
    health = summary["client_health"]
    if health["saturated_intervals"]:
        console.print(
            f"[bold red]warning:[/] the client was saturated in "
            f"{health['saturated_intervals']} of {health['intervals']} intervals "
            f"(loop lag up to {health['loop_lag_max_ms']:.0f} ms, CPU up to "
            f"{health['cpu_percent_max']:.0f}%): latencies include its own delay"
        )
    for expr, target, value, verdict in threshold_rows(summary):
        style = "green" if verdict == "pass" else "bold red"
        console.print(
            f"[{style}]{escape(verdict)}[/] {escape(expr)} {escape('[' + target + ']')}: {value}",
            highlight=False,
        )
    console.print("times in ms; report: " + str(run_dir / "index.html"))
