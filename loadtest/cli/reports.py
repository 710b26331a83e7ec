"""The commands that render saved runs: `report RUN_DIR` and `compare`."""

from __future__ import annotations

import argparse
import sys

from loadtest.cli.history import timeofday_report
from loadtest.cli.output import emit
from loadtest.errors import ConfigError, ExitCode


def report(args: argparse.Namespace) -> int:
    """`loadtest report`: a saved run rendered again, or the time-of-day report."""
    from rich.console import Console

    from loadtest.report.run_data import load_run
    from loadtest.report.terminal import print_summary
    from loadtest.report.write import render, write_report

    if args.run_dir == "timeofday":
        return timeofday_report(args)
    run = load_run(args.run_dir)
    if args.format == "term":
        print_summary(Console(), run.summary, run.path)
        return ExitCode.OK
    if args.format == "html" and args.output is None:
        print(write_report(run.path))
        return ExitCode.OK
    emit(render(run, args.format), args.output)
    return ExitCode.OK


def compare_runs(args: argparse.Namespace) -> int:
    """`loadtest compare`: saved runs side by side, with the change from the first."""
    import orjson
    from rich.console import Console

    from loadtest.report import compare
    from loadtest.report.run_data import load_run

    if len(args.runs) < 2:
        raise ConfigError("compare: expected two or more run directories")
    runs = [load_run(r) for r in args.runs]
    if not compare.pair_targets(runs):
        have = "; ".join(
            f"{r}: {', '.join(run.targets)}" for r, run in zip(args.runs, runs, strict=True)
        )
        raise ConfigError(
            f"compare: the runs share no target ({have}); compare runs of the same "
            "targets, or runs of one target each"
        )
    for line in compare.load_differences(runs):
        print(f"loadtest: warning: {line}", file=sys.stderr)
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
    emit(text, args.output)
    return ExitCode.OK
