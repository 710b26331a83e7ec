"""The commands of the run history: `schedule` (probes on cron), `store` (import, list)
and `report timeofday` (latency by hour from the store)."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
from pathlib import Path

from loadtest.cli.output import emit
from loadtest.errors import ConfigError, ExitCode, RuntimeFailure
from loadtest.paths import DEFAULT_STORE


def schedule_profile(args: argparse.Namespace) -> int:
    """`loadtest schedule`: the profile's runs on cron until stopped; flags win over its
    [schedule] table."""
    import dataclasses

    from loadtest import ready
    from loadtest.cli.running import metrics_exporter
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
    ready.check(profile, store=spec.store)  # before the first fire, not at it
    exporter = metrics_exporter(args.metrics_port, False, args.otlp)
    try:
        counts = schedule(
            profile,
            spec,
            until=args.until,
            max_fires=args.fires,
            run_args=["--out", args.out] if args.out else [],
            log=lambda s: print(s, flush=True),
            exporter=exporter,
        )
    finally:
        if exporter is not None:
            exporter.close()
    return ExitCode.FAILED if counts.failed and not counts.runs else ExitCode.OK


def existing(path: str) -> None:
    """A store that is only read must be there: reading one never creates it."""
    if not Path(path).is_file():
        raise ConfigError(
            f"{path}: no such store (`loadtest store import RUN_DIR --store {path}` or "
            f"`loadtest run PROFILE --store {path}` makes one)"
        )


def store_runs(args: argparse.Namespace) -> int:
    """`loadtest store import|list`."""
    from loadtest import store

    if args.store_command == "list":
        existing(args.store or DEFAULT_STORE)
    with contextlib.closing(store.connect(args.store or DEFAULT_STORE)) as db:
        if args.store_command == "import":
            for d in args.run_dirs:
                try:  # one transaction per run: a full or read-only store keeps no half
                    n = store.import_run(db, d)
                except sqlite3.Error as exc:
                    raise RuntimeFailure(
                        f"{args.store or DEFAULT_STORE}: cannot add {d} ({exc})"
                    ) from None
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


def timeofday_report(args: argparse.Namespace) -> int:
    """`loadtest report timeofday`: latency by weekday and hour from the store."""
    from datetime import UTC, datetime

    import orjson

    from loadtest import store, timeofday
    from loadtest.instants import instant_or_offset
    from loadtest.peak import Window
    from loadtest.schedule import check_zone

    tz = check_zone(args.tz, "--tz")
    try:
        since = instant_or_offset(args.since, datetime.now(UTC), -1)
    except ValueError:
        raise ConfigError(
            f"--since: expected 7d, 24h, 30m or an ISO instant, got {args.since!r}"
        ) from None
    try:
        window = Window.parse(args.peak)
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
    from loadtest import probes

    existing(args.store or DEFAULT_STORE)
    with contextlib.closing(store.connect(args.store or DEFAULT_STORE)) as db:
        rows, counts = timeofday.load_intervals(db, tz, since, args.target, args.include_saturated)
        stored = probes.load_probes(db, tz, since, args.target)
    reports = timeofday.analyse(rows, counts, opts)
    samples = {
        t: {cell: s["count"] for cell, s in r.cells.get("ttft", {}).items()}
        for t, r in reports.items()
    }
    for target, trust in probes.judge(stored, samples, args.include_saturated).items():
        reports.setdefault(target, timeofday.TargetReport()).trust = trust
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
    emit(text, args.output)
    return ExitCode.OK
