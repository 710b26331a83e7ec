"""Command line: parse flags, build the config, call the library. Errors are one line, exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loadtest import __version__
from loadtest.config_reader import ConfigError

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


def _parser() -> argparse.ArgumentParser:
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
        raise ConfigError(
            f"--host/--port: cannot listen on {args.host}:{args.port} ({exc.strerror})"
        ) from None
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loadtest` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "mock":
            return _mock(args)
    except ConfigError as exc:
        print(f"loadtest: error: {exc}", file=sys.stderr)
        return 2
    return 1
