"""The commands that run something: `mock` (the simulator), `run` (a profile), `validate`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loadtest.errors import ConfigError, ExitCode, RuntimeFailure
from loadtest.paths import DEFAULT_PROFILE

if TYPE_CHECKING:
    from loadtest.profile import Profile
    from loadtest.prom_export import Exporter
    from loadtest.schema import Summary


def mock(args: argparse.Namespace) -> int:
    """`loadtest mock`: the simulator in the foreground until Ctrl-C."""
    from loadtest.sim.config import load_config
    from loadtest.sim.process import serve

    if args.workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {args.workers}")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port: expected 0-65535, got {args.port}")
    cfg = load_config(
        args.config, seed=args.seed, time_warp=args.time_warp, sim_start=args.sim_start
    )

    def ready(url: str) -> None:
        warp = f", time warp {cfg.time_warp:g}x" if cfg.time_warp != 1 else ""
        print(
            f"loadtest mock listening on {url} ({args.workers} worker"
            f"{'s' if args.workers > 1 else ''}, seed {cfg.seed}{warp}); Ctrl-C stops",
            flush=True,
        )

    try:
        serve(cfg, args.host, args.port, args.workers, ready)
    except OSError as exc:
        raise RuntimeFailure(
            f"--host/--port: cannot listen on {args.host}:{args.port} ({exc.strerror})"
        ) from None
    except KeyboardInterrupt:
        pass
    return ExitCode.OK


def profile_path(arg: str | None) -> str:
    """ARG, or the quickstart profile: the one in the current folder's profiles/, else
    the package's (an installed wheel carries it inside; an editable install's package
    is the checkout's, whose profiles/ sits beside it), from whatever folder."""
    if arg is not None:
        return arg
    package = Path(__file__).resolve().parents[1]
    for candidate in (
        Path(DEFAULT_PROFILE),
        package / "profiles" / "quickstart.toml",
        package.parent / DEFAULT_PROFILE,
    ):
        if candidate.is_file():
            return str(candidate)
    return DEFAULT_PROFILE  # not found: load_profile says so, naming it


def _profile_of(args: argparse.Namespace, duration: float | None) -> Profile:
    """The profile file named (or the quickstart), or one target from --base-url."""
    from loadtest.profile import load_profile
    from loadtest.quick_profile import flags_profile

    with_target = args.base_url is not None or args.model is not None
    if not with_target:
        for flag in ("api_key_env", "input_tokens", "output_tokens"):
            if getattr(args, flag) is not None:
                raise ConfigError(f"--{flag.replace('_', '-')}: only with --base-url and --model")
        return load_profile(profile_path(args.profile))
    if args.profile is not None:
        raise ConfigError(
            f"--base-url/--model: run one target without a profile; {args.profile} is one "
            "(give either)"
        )
    if args.base_url is None:
        raise ConfigError("--model: needs --base-url (the server to load)")
    if not args.model:
        raise ConfigError("--base-url: needs --model (the model to ask for)")
    for flag in ("input_tokens", "output_tokens"):
        n = getattr(args, flag)
        if n is not None and n < 1:
            raise ConfigError(f"--{flag.replace('_', '-')}: expected an integer >= 1, got {n}")
    return flags_profile(
        args.base_url,
        args.model,
        args.kind,
        args.api_key_env,
        args.input_tokens,
        args.output_tokens,
        duration,
    )


def metrics_exporter(spec: str | None, quiet: bool, otlp: str | None = None) -> Exporter | None:
    """The --metrics-port endpoint, serving, and the --otlp push fed from it (None
    without either flag)."""
    if spec is None and otlp is None:
        return None
    from loadtest.prom_export import Exporter, listen_spec

    exporter = Exporter()
    if otlp is not None:
        from loadtest.otel_export import OtlpPusher

        pusher = OtlpPusher(exporter, otlp)
        exporter.on_close.append(pusher.close)
        if not quiet:
            print(f"loadtest: metrics pushed to {pusher.url}", file=sys.stderr, flush=True)
    if spec is None:
        return exporter
    try:
        host, port = listen_spec(spec)
    except ValueError as exc:
        raise ConfigError(f"--metrics-port: {exc}") from None
    try:
        port = exporter.serve(host, port)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port: cannot listen on {host}:{port} ({exc.strerror or exc})"
        ) from None
    if not quiet:
        shown = f"[{host}]" if ":" in host else host
        print(f"loadtest: metrics at http://{shown}:{port}/metrics", file=sys.stderr, flush=True)
    return exporter


def run(args: argparse.Namespace) -> int:
    """`loadtest run`: a profile with the flags' overrides, then its summary."""
    import dataclasses

    from rich.console import Console

    from loadtest import ready, runner
    from loadtest.config_reader import parse_duration
    from loadtest.pricing import unpriced
    from loadtest.profile import apply_overrides, override_notes
    from loadtest.report.terminal import print_summary

    duration = None
    if args.duration is not None:
        duration = parse_duration(args.duration)
        if duration is None or duration <= 0:
            raise ConfigError(
                f"--duration: expected a duration such as 30s or 5m, got {args.duration!r}"
            )
    loaded = _profile_of(args, duration)
    profile = apply_overrides(
        loaded,
        rate=args.rate,
        concurrency=args.concurrency,
        duration_s=duration,
        requests=args.requests,
        target=args.target,
        out_dir=args.out,
        thresholds=tuple(args.threshold),
        abort_on_fail=args.abort_on_fail,
    )
    if args.max_cost is not None:
        if not args.max_cost > 0:
            raise ConfigError(f"--max-cost: expected USD > 0, got {args.max_cost:g}")
        if why := unpriced(profile.targets):
            raise ConfigError(f"--max-cost: expected {why}")
        profile = dataclasses.replace(profile, max_cost=args.max_cost)
    if args.workers is not None:
        profile = dataclasses.replace(profile, workers=_workers_flag(args.workers))
    cluster = args.cluster or ("ray" if os.environ.get("RAY_ADDRESS") else "local")
    if cluster == "ray" and not args.cluster:
        print(
            "loadtest: note: RAY_ADDRESS is set: the workers run on that Ray cluster "
            "(--cluster local keeps them on this machine)",
            file=sys.stderr,
            flush=True,
        )
    for note in override_notes(loaded, args.rate, args.concurrency):
        print(f"loadtest: note: {note}", file=sys.stderr, flush=True)
    # Before the wait and any request: a run that cannot start is found out now.
    ready.check(profile, store=args.store or None)
    sim_rate = None
    if args.start_at is not None:
        from loadtest import server_scrape

        server_scrape.prepare(profile)  # ready before the start instant, not after it
        sim_rate = wait_for(args.start_at, args.clock, profile)
    console = Console()
    exporter = metrics_exporter(args.metrics_port, args.quiet, args.otlp)
    stored = ""
    scheduled = ""
    if args.start_at is not None:
        from loadtest.instants import format_instant, parse_instant

        scheduled = format_instant(parse_instant(args.start_at))
    try:
        run_dir, summary = runner.run(
            profile,
            console,
            live=not args.no_live,
            quiet=args.quiet,
            preflight=not args.no_preflight,
            scheduled_utc=scheduled,
            cluster=cluster,
            exporter=exporter,
            sim_rate=sim_rate if args.clock == "simulator" else None,
        )
    except KeyboardInterrupt:  # before the load's own Ctrl-C handling was in place
        print("loadtest: interrupted before the load started", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED
    finally:
        if exporter is not None:
            exporter.close()
    if args.store:
        from loadtest import store

        try:
            with contextlib.closing(store.connect(args.store)) as db:
                store.import_run(db, run_dir)
        except (RuntimeFailure, sqlite3.Error) as exc:  # a full or read-only store
            stored = f"--store {args.store}: cannot add the run ({exc}); it stays in {run_dir}"
    code, why = outcome(summary)
    if stored:
        code, why = code or ExitCode.RUNTIME_FAILURE, "; ".join(filter(None, (why, stored)))
    try:
        if args.quiet:
            print(run_dir)
        else:
            print_summary(console, summary, run_dir)
        if why:  # after the table, where it is the last line seen (and the scheduler's)
            print(f"loadtest: {why}", file=sys.stderr, flush=True)
    except OSError:  # the terminal went away (SIGHUP); the report is on disk
        return code or ExitCode.HANGUP
    return code


def _workers_flag(text: str) -> int:
    if text == "auto":
        return 0
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--workers: expected an integer >= 1 or auto, got {text!r}")
    return int(text)


def outcome(summary: Summary) -> tuple[ExitCode, str]:
    """The exit code of a run that wrote its summary, and the one line saying why when it
    is not a plain success (none for Ctrl-C and thresholds: the table says those)."""
    from loadtest.engine import WORKER_DIED
    from loadtest.sinks import WRITE_STOPS

    stopped = summary["run"]["stopped_by"]
    if summary["run"].get("partial"):
        lost = [
            f"worker {w['worker']} {w['state']} ({w.get('error', '')})"
            for w in summary["client_health"].get("workers", [])
            if w["state"] in ("crashed", "hung")
        ]
        return ExitCode.FAILED, (
            f"{'; '.join(lost)}: the run is partial (the others finished), its files are written"
        )
    if stopped == "interrupted":
        return ExitCode.INTERRUPTED, ""
    if stopped.startswith(WRITE_STOPS):  # its one line was printed when writing stopped
        return ExitCode.RUNTIME_FAILURE, ""
    if stopped.startswith(WORKER_DIED):  # a bug of ours: the run stopped there
        return ExitCode.FAILED, f"{stopped}; the run stopped there, its files are written"
    if stopped == "terminated":
        return ExitCode.TERMINATED, (
            "terminated by SIGTERM: in-flight requests drained, the run's files are written"
        )
    # A run whose every request failed measured no latency at all: it must not pass for
    # a finished one (it did, with "stopped by done" and exit 0).
    empty = []
    for name, t in summary["targets"].items():
        req = t["requests"]
        if req["recorded"] and not req["completed"]:
            top = sorted(t["errors"].items(), key=lambda kv: -kv[1])[:3]
            errors = ", ".join(f"{n} {cls}" for cls, n in top)
            empty.append(f"{name}: all {req['recorded']} failed ({errors or 'no class'})")
    if empty:
        return ExitCode.NOTHING_COMPLETED, "no request completed: " + "; ".join(empty)
    if not summary.get("thresholds_ok", True):
        return ExitCode.THRESHOLDS_FAILED, ""
    return ExitCode.OK, ""


def wait_for(start_at: str, clock: str, profile: Profile) -> float:
    """Block until START_AT on the chosen clock (`run --start-at`); the clock's rate."""
    import asyncio

    from loadtest.clocks import wait_for_instant
    from loadtest.instants import parse_instant

    try:
        instant = parse_instant(start_at)
    except ValueError:
        raise ConfigError(f"--start-at: expected an ISO instant, got {start_at!r}") from None
    try:
        return asyncio.run(wait_for_instant(clock, profile, instant))
    except KeyboardInterrupt:
        raise SystemExit(ExitCode.INTERRUPTED) from None


def init(args: argparse.Namespace) -> int:
    """`loadtest init`: the commented starter profile written to PATH."""
    from loadtest.starter import STARTER

    path = Path(args.path)
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: exists already (--force overwrites it)")
    try:
        path.write_text(STARTER, encoding="utf-8")
    except OSError as exc:
        raise RuntimeFailure(f"{path}: cannot write ({exc.strerror})") from None
    print(f"wrote {path}: edit base_url and model, then `loadtest run {path}`")
    return ExitCode.OK


def validate(args: argparse.Namespace) -> int:
    """`loadtest validate`: the profile checked as a run would (loadtest.ready), then
    printed resolved, as JSON."""
    import dataclasses

    import orjson

    from loadtest import ready, redact
    from loadtest.profile import load_profile

    profile = load_profile(args.profile)
    ready.check(profile)
    p = redact.profile(dataclasses.asdict(profile))  # no URL password
    print(orjson.dumps(p, option=orjson.OPT_INDENT_2).decode())
    return ExitCode.OK
