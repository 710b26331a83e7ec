"""The `loadtest` argument parser: every command, its flags, and the examples in `--help`."""

from __future__ import annotations

import argparse

from loadtest import __version__
from loadtest.paths import DEFAULT_PROFILE, DEFAULT_STORE

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
  loadtest run --base-url http://127.0.0.1:8000/v1 --model meta-llama/Llama-3.1-8B-Instruct
                                                 # one target, no profile: 4 streams, 30 s
  loadtest run --base-url sim --model gpt-4o-mini --kind openai --rate 10 --duration 1m
  loadtest run profiles/openai-vs-anthropic.toml # real endpoints (keys from the environment)
  loadtest run my.toml --rate 20 --duration 2m   # open loop at 20 req/s for two minutes
  loadtest run my.toml --target gpt-4o-mini --requests 200 --out /tmp/runs
  loadtest run my.toml --threshold 'ttft.p95 < 800ms' --threshold 'errors.rate < 1%'
                                                 # CI gate: exit 99 when one fails

First Ctrl-C stops new requests and waits for those in flight; a second stops at once.
Results are written in every case. Exit codes: 0 done, 4 a target completed no request,
99 a threshold failed, 130 Ctrl-C, 143 SIGTERM, 1 a worker died (README: Exit codes).
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

CHECK_EXAMPLES = """\
examples:
  loadtest check --store loadtest.db             # the newest hour against its usual
  loadtest check --store h.db --last 15m --factor 2 --json check.json
  loadtest check --store h.db --at 2026-11-20T15:00:00-05:00 --tz America/New_York
  loadtest check --store h.db --webhook-env LOADTEST_WEBHOOK
                                                 # POST the JSON there on an alert

An hour's TTFT or E2E P95 that is FACTOR times that weekday-and-hour's in the earlier
history, with a bootstrap 95% interval of the ratio above 1, is an alert; so is an
error or 429 rate that rose by RATE_JUMP. Exit codes: 0 no alert, 5 an alert, 1 nothing
stored to judge, 2 bad input.
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every `loadtest` command."""
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
    from loadtest.providers.registry import kinds

    r.add_argument(
        "--base-url",
        metavar="URL",
        help="run one target at URL without a profile ('sim': the built-in simulator); "
        "needs --model",
    )
    r.add_argument("--model", help="with --base-url: the model to ask for")
    r.add_argument(
        "--kind",
        choices=kinds(),
        default="openai-compatible",
        help="with --base-url: the API it speaks (default openai-compatible)",
    )
    r.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="with --base-url: the environment variable holding its key (default: the "
        "kind's, e.g. OPENAI_API_KEY; none for openai-compatible)",
    )
    r.add_argument("--input-tokens", type=int, help="with --base-url: prompt length (default 200)")
    r.add_argument(
        "--output-tokens", type=int, help="with --base-url: max_tokens asked for (default 128)"
    )
    r.add_argument("--rate", type=float, help="open loop at this many requests/s")
    r.add_argument("--concurrency", type=int, help="closed loop with this many streams")
    r.add_argument("--duration", help="run length, e.g. 30s, 5m")
    r.add_argument("--requests", type=int, help="stop after this many requests per target")
    r.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="stop once the estimated spend (usage at list prices) reaches this many USD",
    )
    r.add_argument(
        "--workers",
        metavar="N",
        help="send the load from N processes, merged into one run; auto: one per core "
        "left after the simulator's (default: the profile's workers, 1)",
    )
    r.add_argument(
        "--cluster",
        choices=("local", "ray"),
        help="where the workers run: local processes, or Ray actors of the cluster at "
        "RAY_ADDRESS (default: ray when RAY_ADDRESS is set, else local)",
    )
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
        help="stop early once a threshold on error counts can no longer pass",
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
    r.add_argument(
        "--metrics-port",
        metavar="[HOST:]PORT",
        help="serve loadtest's own metrics for Prometheus at http://HOST:PORT/metrics while "
        "it runs (HOST defaults to 127.0.0.1; 0.0.0.0 for a scraper on another machine)",
    )
    r.add_argument(
        "--otlp",
        metavar="URL",
        help="push loadtest's own metrics to an OpenTelemetry collector's OTLP/HTTP "
        "endpoint (http://HOST:4318; GenAI metric names; pip install 'loadtest[otel]')",
    )
    r.add_argument("--quiet", action="store_true", help="print only the report path")
    r.add_argument(
        "--no-live", action="store_true", help="plain lines instead of the live dashboard"
    )
    r.add_argument(
        "--no-preflight",
        action="store_true",
        help="skip the one request sent to each target before the load (by default a "
        "connect error or an HTTP 400/401/403/404/422 there stops the run, exit 2)",
    )

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
    s.add_argument(
        "--metrics-port",
        metavar="[HOST:]PORT",
        help="serve the probes' metrics for Prometheus at http://HOST:PORT/metrics, "
        "each probe folded in as it finishes (HOST defaults to 127.0.0.1)",
    )
    s.add_argument(
        "--otlp",
        metavar="URL",
        help="push the probes' metrics to an OTLP/HTTP collector (pip install 'loadtest[otel]')",
    )

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
    rp.add_argument(
        "--tz",
        default="America/New_York",
        help="timeofday: zone of the hours (default America/New_York)",
    )
    rp.add_argument(
        "--since", default="7d", help="timeofday: 7d, 24h or an ISO instant (default 7d)"
    )
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
        help="timeofday: an interval whose TTFT P95 is this many times off-peak's is a "
        "spike (default 2)",
    )
    rp.add_argument(
        "--slow-factor",
        type=float,
        default=1.5,
        help="timeofday: an hour whose TTFT P95 is this many times the median hour's is "
        "slow (default 1.5)",
    )
    rp.add_argument(
        "--heatmaps",
        default="p95",
        help="timeofday: percentiles mapped by weekday and hour, e.g. p50,p95,p99 (default p95)",
    )
    rp.add_argument(
        "--include-saturated",
        action="store_true",
        help="timeofday: keep the probes whose client was saturated (left out by default)",
    )
    rp.add_argument(
        "--format", choices=("html", "md", "json", "term"), default="html", help="(default html)"
    )
    rp.add_argument(
        "--output",
        "-o",
        help="write to this file ('-' for stdout); html defaults to RUN_DIR/index.html "
        "(timeofday: timeofday.html beside the store)",
    )

    c = sub.add_parser(
        "compare",
        help="compare saved runs (for example peak against off-peak)",
        description="Each metric of the runs side by side, with the change from the first "
        "run and, for P95 and P99, a bootstrap 95% confidence interval of that change.",
    )
    c.add_argument("runs", nargs="+", metavar="RUN_DIR", help="two or more run directories")
    c.add_argument(
        "--format", choices=("term", "md", "html", "json"), default="term", help="(default term)"
    )
    c.add_argument("--output", "-o", help="write to this file instead of stdout")

    ck = sub.add_parser(
        "check",
        help="alert when the latest probes are slower than that hour of the week usually is",
        description="Judge the newest stored probe runs (the last hour by default) against "
        "the same hour of the week in the run history, with the off-peak baseline beside.",
        epilog=CHECK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ck.add_argument("--store", default=None, help=f"the history file (default {DEFAULT_STORE})")
    ck.add_argument(
        "--last",
        default="1h",
        help="how much to judge, back from --at (default 1h)",
    )
    ck.add_argument(
        "--at",
        default=None,
        help="an ISO instant: judge up to it (default: the newest stored interval)",
    )
    ck.add_argument(
        "--tz",
        default="America/New_York",
        help="zone whose weekdays and hours are compared (default America/New_York)",
    )
    ck.add_argument(
        "--factor",
        type=float,
        default=1.5,
        help="a P95 this many times its usual is an alert (default 1.5)",
    )
    ck.add_argument(
        "--rate-jump",
        default="5%",
        help="an error or 429 rate this much above its usual is an alert (default 5%%)",
    )
    ck.add_argument(
        "--peak",
        default="Mon-Fri 09-17",
        help="the peak window; the rest is the off-peak baseline (default 'Mon-Fri 09-17')",
    )
    ck.add_argument("--target", action="append", default=[], help="only these targets")
    ck.add_argument(
        "--include-saturated",
        action="store_true",
        help="keep the runs whose client was saturated (left out and counted by default)",
    )
    ck.add_argument("--json", metavar="PATH", help="write what was found as JSON ('-': stdout)")
    hook = ck.add_mutually_exclusive_group()
    hook.add_argument("--webhook", metavar="URL", help="POST the JSON to URL on an alert")
    hook.add_argument(
        "--webhook-env",
        metavar="VAR",
        help="POST the JSON on an alert to the URL in environment variable VAR "
        "(keeps a URL with a token out of shell history)",
    )

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

    i = sub.add_parser(
        "init",
        help="write a commented starter profile",
        description="Write a starter profile to edit: one OpenAI-compatible target, the "
        "load, workload, timeouts and thresholds, every key commented.",
    )
    i.add_argument("path", nargs="?", default="loadtest.toml", help="(default loadtest.toml)")
    i.add_argument("--force", action="store_true", help="overwrite PATH if it exists")

    v = sub.add_parser(
        "validate",
        help="check a profile and print it resolved",
        description="Check a profile as `run` would before its load (every key, the "
        "prompts file or tokenizer, the simulator's config, API key variables, the output "
        "folder and the store), then print it resolved as JSON, secrets masked. Exit 2 for "
        "bad input, 3 for a folder or store that cannot be written.",
    )
    v.add_argument("profile", help="profile TOML")
    return p
