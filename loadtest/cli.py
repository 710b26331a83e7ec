"""Command line: parse flags, build the config, call the library. Errors are one line; the
exit codes are errors.ExitCode (2 for bad input, 3 for a runtime failure)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from loadtest import __version__
from loadtest.errors import ConfigError, ExitCode, LoadtestError, RuntimeFailure
from loadtest.paths import DEFAULT_STORE

if TYPE_CHECKING:
    from loadtest.profile import Profile

MOCK_EXAMPLES = """\
examples:
  loadtest mock                                  # one worker on an ephemeral port
  loadtest mock --port 8000 --workers 2          # two processes sharing port 8000
  loadtest mock --time-warp 1440 --sim-start 2026-11-23T00:00:00-05:00
                                                 # one simulated day per real minute
  loadtest mock --config sim.toml --seed 7       # presets, faults and limits from a file

Point the openai SDK at <url>/v1 and the anthropic SDK at <url>; any API key works
unless api_key_env is set in the config.
"""


RUN_EXAMPLES = """\
examples:
  loadtest run                                   # profiles/quickstart.toml: the simulator, 30 s
  loadtest run profiles/openai-vs-anthropic.toml # real endpoints (keys from the environment)
  loadtest run my.toml --rate 20 --duration 2m   # open loop at 20 req/s for two minutes
  loadtest run my.toml --target gpt-4o-mini --requests 200 --out /tmp/runs
  loadtest run my.toml --threshold 'ttft.p95 < 800ms' --threshold 'errors.rate < 1%'
                                                 # CI gate: exit 99 when one fails

First Ctrl-C stops new requests and waits for those in flight; a second stops at once.
Results are written in every case.
"""

REPORT_EXAMPLES = """\
examples:
  loadtest report reports/20261124T034343Z-quickstart            # index.html and hgrm/ again
  loadtest report reports/20261124T034343Z-quickstart --format md # Markdown on stdout
  loadtest report RUN --format json -o summary-copy.json
  loadtest report RUN --format term                              # the end-of-run table
"""

SCHEDULE_EXAMPLES = """\
examples:
  loadtest schedule my.toml                      # the profile's [schedule], or hourly (UTC)
  loadtest schedule my.toml --cron '*/15 9-17 * * 1-5' --tz America/New_York --jitter 60s
  loadtest schedule sim.toml --clock simulator --until 7d
                                                 # a week of a time-warped `loadtest mock`

Each fire runs `loadtest run PROFILE --store DB --quiet` in a child process; its
results go to the store for `loadtest report timeofday`. SIGTERM or Ctrl-C: no new
fires, the runs in flight finish. For one-shot probes from cron, a systemd timer or
CI, see scripts/schedule-examples/.
"""

DEFAULT_PROFILE = "profiles/quickstart.toml"


def _parser() -> argparse.ArgumentParser:
    from loadtest.schedule import CLOCKS

    p = argparse.ArgumentParser(
        prog="loadtest",
        description="Load and latency tester for streaming LLM APIs: time to first token, "
        "inter-token latency, throughput, and P95 by time of day.",
    )
    p.add_argument("--version", action="version", version=f"loadtest {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    m = sub.add_parser(
        "mock",
        help="run the built-in provider simulator",
        description="Serve OpenAI- and Anthropic-compatible streaming APIs with "
        "realistic latency, time of day, rate limits and faults.",
        epilog=MOCK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    m.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    m.add_argument("--config", metavar="TOML", help="simulator config: presets, limits, faults")
    m.add_argument("--seed", type=int, help="seed for every random draw (default 0)")
    m.add_argument(
        "--time-warp",
        type=float,
        metavar="X",
        help="simulated seconds per real second (1440 = a day per minute)",
    )
    m.add_argument(
        "--sim-start",
        metavar="ISO",
        help="simulated instant at start (default: now), e.g. 2026-11-23T09:00-05:00",
    )
    m.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (default 1)"
    )

    r = sub.add_parser(
        "run",
        help="run a load profile and write its report",
        description="Drive streaming load against the profile's targets and record TTFT, "
        "inter-token latency and throughput.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "profile", nargs="?", default=None, help=f"profile TOML (default {DEFAULT_PROFILE})"
    )
    r.add_argument("--rate", type=float, help="open loop at this many requests/s")
    r.add_argument("--concurrency", type=int, help="closed loop with this many streams")
    r.add_argument("--duration", help="run length, e.g. 30s, 5m")
    r.add_argument("--requests", type=int, help="stop after this many requests per target")
    r.add_argument("--target", help="run only this target of the profile")
    r.add_argument("--out", help="directory for run reports (default: the profile's, reports)")
    r.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="SLO gate, repeatable, e.g. 'ttft.p95 < 800ms', 'errors.rate < 1%%', "
        "'e2e.p99{target=NAME} < 5s'; any failing exits 99",
    )
    r.add_argument(
        "--abort-on-fail",
        action="store_true",
        help="stop early once a threshold can no longer pass (error counts)",
    )
    r.add_argument("--store", metavar="DB", help="also add the run to this history (SQLite) file")
    r.add_argument(
        "--start-at",
        metavar="ISO",
        help="load everything, then wait until this instant to start (used by schedule)",
    )
    r.add_argument(
        "--clock",
        choices=CLOCKS,
        default="wall",
        help="the clock --start-at is read on; simulator: the targeted `loadtest mock`'s",
    )
    r.add_argument("--quiet", action="store_true", help="print only the report path")
    r.add_argument("--no-live", action="store_true", help="plain lines instead of a live table")

    s = sub.add_parser(
        "schedule",
        help="run a profile on a cron schedule, adding every run to the store",
        description="Long-running probe scheduler: at each cron fire, run the profile "
        "and add the run to the history. Flags win over the profile's [schedule] table.",
        epilog=SCHEDULE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("profile", help="profile TOML")
    s.add_argument("--cron", help="cron expression, e.g. '0 * * * *' (default: hourly)")
    s.add_argument("--tz", help="zone the cron expression is read in (default UTC)")
    s.add_argument("--jitter", help="random extra delay up to this long per fire, e.g. 90s")
    s.add_argument(
        "--clock",
        choices=CLOCKS,
        help="simulator: follow a running `loadtest mock`'s time-warped clock",
    )
    s.add_argument("--store", help=f"history file (default {DEFAULT_STORE})")
    s.add_argument("--max-running", type=int, help="runs allowed at once (default 1)")
    s.add_argument("--out", help="directory for the run reports (default: the profile's)")
    s.add_argument("--until", help="stop at this instant, or this long after start (7d)")
    s.add_argument("--fires", type=int, help="stop after this many fires")

    rp = sub.add_parser(
        "report",
        help="render a saved run again (HTML, Markdown, JSON, terminal)",
        description="Render the report of a run directory written by loadtest run; "
        "nothing is re-run.",
        epilog=REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rp.add_argument(
        "run_dir",
        help="a run directory, reports/<UTC start>-<profile>; or 'timeofday' for latency by "
        "hour from the run history",
    )
    rp.add_argument("--store", help=f"timeofday: the history file (default {DEFAULT_STORE})")
    rp.add_argument("--tz", default="America/New_York", help="timeofday: zone of the hours")
    rp.add_argument("--since", default="7d", help="timeofday: 7d, 24h or an ISO instant")
    rp.add_argument("--target", action="append", default=[], help="timeofday: only these")
    rp.add_argument(
        "--peak",
        default="Mon-Fri 09-17",
        help="timeofday: the peak window, days and hours (default 'Mon-Fri 09-17')",
    )
    rp.add_argument(
        "--spike-factor",
        type=float,
        default=2.0,
        help="timeofday: an interval whose TTFT P95 is this many times off-peak's is a spike",
    )
    rp.add_argument(
        "--slow-factor",
        type=float,
        default=1.5,
        help="timeofday: an hour whose TTFT P95 is this many times the median hour's is slow",
    )
    rp.add_argument(
        "--heatmaps",
        default="p95",
        help="timeofday: percentiles mapped by weekday and hour, e.g. p50,p95,p99 (default p95)",
    )
    rp.add_argument(
        "--format", choices=("html", "md", "json", "term"), default="html", help="(default html)"
    )
    rp.add_argument(
        "--output",
        "-o",
        help="write to this file ('-' for stdout); html defaults to RUN_DIR/index.html",
    )

    c = sub.add_parser(
        "compare",
        help="compare saved runs (for example peak against off-peak)",
        description="Each metric of the runs side by side, with the change from the first "
        "run and, for P95 and P99, a bootstrap 95%% confidence interval of that change.",
    )
    c.add_argument("runs", nargs="+", metavar="RUN_DIR", help="two or more run directories")
    c.add_argument(
        "--format", choices=("term", "md", "html", "json"), default="term", help="(default term)"
    )
    c.add_argument("--output", "-o", help="write to this file instead of stdout")

    st = sub.add_parser(
        "store",
        help="the run history (SQLite): import saved runs, list them",
        description="The run history used by time-of-day reports: one SQLite file (WAL).",
    )
    st_sub = st.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    imp = st_sub.add_parser("import", help="add saved run directories to the store")
    imp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    ls = st_sub.add_parser("list", help="list the stored runs")
    for x in (imp, ls):
        x.add_argument("--store", default=None, help=f"store file (default {DEFAULT_STORE})")

    v = sub.add_parser("validate", help="check a profile and print it resolved")
    v.add_argument("profile", help="profile TOML")
    return p


def _mock(args: argparse.Namespace) -> int:
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


def _profile_path(arg: str | None) -> str:
    if arg is not None:
        return arg
    here = Path(DEFAULT_PROFILE)
    if here.exists():
        return str(here)
    return str(Path(__file__).resolve().parent / "profiles" / "quickstart.toml")


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from loadtest.config_reader import parse_duration
    from loadtest.profile import apply_overrides, load_profile
    from loadtest.report.terminal import print_summary
    from loadtest.runner import run

    duration = None
    if args.duration is not None:
        duration = parse_duration(args.duration)
        if duration is None or duration <= 0:
            raise ConfigError(
                f"--duration: expected a duration such as 30s or 5m, got {args.duration!r}"
            )
    profile = apply_overrides(
        load_profile(_profile_path(args.profile)),
        rate=args.rate,
        concurrency=args.concurrency,
        duration_s=duration,
        requests=args.requests,
        target=args.target,
        out_dir=args.out,
        thresholds=tuple(args.threshold),
        abort_on_fail=args.abort_on_fail,
    )
    if args.start_at is not None:
        _wait_for(args.start_at, args.clock, profile)
    console = Console()
    run_dir, summary = run(profile, console, live=not args.no_live, quiet=args.quiet)
    if args.store:
        from loadtest import store

        with contextlib.closing(store.connect(args.store)) as db:
            store.import_run(db, run_dir)
    code = ExitCode.INTERRUPTED if summary["run"]["stopped_by"] == "interrupted" else ExitCode.OK
    if not code and not summary.get("thresholds_ok", True):
        code = ExitCode.THRESHOLDS_FAILED
    try:
        if args.quiet:
            print(run_dir)
        else:
            print_summary(console, summary, run_dir)
    except OSError:  # the terminal went away (SIGHUP); the report is on disk
        return code or ExitCode.HANGUP
    return code


def _schedule(args: argparse.Namespace) -> int:
    import dataclasses

    from loadtest.config_reader import parse_duration
    from loadtest.profile import load_profile
    from loadtest.schedule import ScheduleSpec, check_cron, check_zone
    from loadtest.scheduler import schedule

    profile = load_profile(args.profile)
    spec = profile.schedule or ScheduleSpec()
    changes: dict[str, object] = {}
    if args.cron is not None:
        changes["cron"] = check_cron(args.cron, "--cron")
    if args.tz is not None:
        check_zone(args.tz, "--tz")
        changes["tz"] = args.tz
    if args.jitter is not None:
        jitter = parse_duration(args.jitter)
        if jitter is None or jitter < 0:
            raise ConfigError(f"--jitter: expected a duration such as 90s, got {args.jitter!r}")
        changes["jitter_s"] = jitter
    if args.clock is not None:
        changes["clock"] = args.clock
    if args.store is not None:
        changes["store"] = args.store
    if args.max_running is not None:
        if args.max_running < 1:
            raise ConfigError(f"--max-running: expected an integer >= 1, got {args.max_running}")
        changes["max_running"] = args.max_running
    if args.fires is not None and args.fires < 1:
        raise ConfigError(f"--fires: expected an integer >= 1, got {args.fires}")
    spec = dataclasses.replace(spec, **changes)  # type: ignore[arg-type]
    counts = schedule(
        profile,
        spec,
        until=args.until,
        max_fires=args.fires,
        run_args=["--out", args.out] if args.out else [],
        log=lambda s: print(s, flush=True),
    )
    return ExitCode.FAILED if counts.failed and not counts.runs else ExitCode.OK


def _wait_for(start_at: str, clock: str, profile: Profile) -> None:
    import asyncio

    from loadtest.clocks import wait_for_instant
    from loadtest.instants import parse_instant

    try:
        instant = parse_instant(start_at)
    except ValueError:
        raise ConfigError(f"--start-at: expected an ISO instant, got {start_at!r}") from None
    try:
        asyncio.run(wait_for_instant(clock, profile, instant))
    except KeyboardInterrupt:
        raise SystemExit(ExitCode.INTERRUPTED) from None


def _report(args: argparse.Namespace) -> int:
    from rich.console import Console

    from loadtest.report.run_data import load_run
    from loadtest.report.terminal import print_summary
    from loadtest.report.write import render, write_report

    if args.run_dir == "timeofday":
        return _timeofday(args)
    run = load_run(args.run_dir)
    if args.format == "term":
        print_summary(Console(), run.summary, run.path)
        return ExitCode.OK
    if args.format == "html" and args.output is None:
        print(write_report(run.path))
        return ExitCode.OK
    text = render(run, args.format)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(args.output)
    return ExitCode.OK


def _compare(args: argparse.Namespace) -> int:
    import orjson
    from rich.console import Console

    from loadtest.report import compare
    from loadtest.report.run_data import load_run

    if len(args.runs) < 2:
        raise ConfigError("compare: expected two or more run directories")
    runs = [load_run(r) for r in args.runs]
    table = compare.compare(runs)
    if args.format == "term":
        compare.show(Console(), runs, table)
        return ExitCode.OK
    if args.format == "md":
        text = compare.to_markdown(runs, table)
    elif args.format == "html":
        text = compare.to_html(runs, table)
    else:
        text = orjson.dumps(compare.as_json(runs, table), option=orjson.OPT_INDENT_2).decode()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(args.output)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return ExitCode.OK


def _store(args: argparse.Namespace) -> int:
    from loadtest import store

    with contextlib.closing(store.connect(args.store or DEFAULT_STORE)) as db:
        if args.store_command == "import":
            for d in args.run_dirs:
                n = store.import_run(db, d)
                print(
                    f"{d}: {n} target{'s' if n != 1 else ''} added" if n else f"{d}: already stored"
                )
            return ExitCode.OK
        for r in store.runs(db):
            print(
                f"{r['start_utc']}  {r['profile']}  {r['target']} ({r['model']})  "
                f"{r['intervals']} intervals  {r['status']}  {r['run_key']}"
            )
    return ExitCode.OK


def _timeofday(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import orjson

    from loadtest import store, timeofday
    from loadtest.instants import instant_or_offset
    from loadtest.schedule import check_zone

    tz = check_zone(args.tz, "--tz")
    try:
        since = instant_or_offset(args.since, datetime.now(UTC), -1)
    except ValueError:
        raise ConfigError(
            f"--since: expected 7d, 24h, 30m or an ISO instant, got {args.since!r}"
        ) from None
    try:
        window = timeofday.Window.parse(args.peak)
    except ValueError as exc:
        raise ConfigError(f"--peak: {exc}") from None
    for flag, factor in (
        ("--spike-factor", args.spike_factor),
        ("--slow-factor", args.slow_factor),
    ):
        if not factor > 1:
            raise ConfigError(f"{flag}: expected a number > 1, got {factor:g}")
    heatmaps = tuple(k.strip().lower() for k in args.heatmaps.split(",") if k.strip())
    if not heatmaps or any(k not in ("p50", "p95", "p99") for k in heatmaps):
        raise ConfigError(f"--heatmaps: expected some of p50,p95,p99, got {args.heatmaps!r}")
    opts = timeofday.Options(args.tz, window, args.spike_factor, args.slow_factor, heatmaps)
    with contextlib.closing(store.connect(args.store or DEFAULT_STORE)) as db:
        rows, counts = timeofday.load_intervals(db, tz, since, args.target)
    reports = timeofday.analyse(rows, counts, opts)
    if args.format == "term" and args.output in (None, "-"):
        from rich.console import Console

        from loadtest.report.timeofday_term import show

        show(Console(), reports, opts)
        return ExitCode.OK
    if args.format == "html":
        from loadtest.report import timeofday_html

        text = timeofday_html.render(reports, opts)
        if args.output is None:
            args.output = str(Path(args.store or DEFAULT_STORE).parent / "timeofday.html")
    elif args.format == "json":
        text = orjson.dumps(timeofday.as_json(reports, opts), option=orjson.OPT_INDENT_2).decode()
        text += "\n"
    else:  # md, or term written to a file
        from loadtest.report import timeofday_md

        text = timeofday_md.render(reports, opts)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        print(args.output)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def _validate(args: argparse.Namespace) -> int:
    import dataclasses

    import orjson

    from loadtest.profile import load_profile

    p = load_profile(args.profile)
    print(orjson.dumps(dataclasses.asdict(p), option=orjson.OPT_INDENT_2).decode())
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loadtest` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "mock":
            return _mock(args)
        if args.command == "run":
            return _run(args)
        if args.command == "schedule":
            return _schedule(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "report":
            return _report(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "store":
            return _store(args)
    except LoadtestError as exc:
        print(f"loadtest: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return ExitCode.FAILED
