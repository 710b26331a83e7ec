"""Command line: parse flags, build the config, call the library.

One module per group of commands (running.py: mock, run, init, validate; history.py:
schedule, store, report timeofday; reports.py: report, compare; alerts.py: check) and
the parser with its examples (parser.py). Errors are one line; the exit codes are errors.ExitCode
(2 for bad input, 3 for a runtime failure).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from loadtest.cli import alerts, history, reports, running
from loadtest.cli.parser import build_parser
from loadtest.errors import ExitCode, LoadtestError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "mock": running.mock,
    "run": running.run,
    "validate": running.validate,
    "init": running.init,
    "schedule": history.schedule_profile,
    "store": history.store_runs,
    "report": reports.report,
    "compare": reports.compare_runs,
    "check": alerts.check_history,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loadtest` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LoadtestError as exc:
        print(f"loadtest: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `loadtest report ... | head`: the reader has what it wanted. No traceback, and
        # none at exit either, when Python flushes the stdout nobody reads any more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE
