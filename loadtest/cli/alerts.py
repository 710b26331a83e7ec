"""`loadtest check`: the newest probes against their hour of the week (loadtest.check),
said, written as JSON and POSTed to a webhook on an alert (loadtest.alerting)."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from loadtest.cli.output import emit
from loadtest.config_reader import parse_duration
from loadtest.errors import ConfigError, ExitCode
from loadtest.paths import DEFAULT_STORE


def _rate(text: str) -> float:
    """'5%' or 0.05 as a share; ConfigError if neither."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ConfigError(f"--rate-jump: expected a share such as 5% or 0.05, got {text!r}")
    return value


def check_history(args: argparse.Namespace) -> int:
    """`loadtest check`."""
    import orjson

    from loadtest import alerting, check, redact
    from loadtest.cli.history import existing
    from loadtest.instants import parse_instant
    from loadtest.peak import Window
    from loadtest.schedule import AlertSpec, check_webhook, check_zone

    tz = check_zone(args.tz, "--tz")
    last = parse_duration(args.last)
    if last is None or last <= 0:
        raise ConfigError(f"--last: expected a duration such as 1h or 30m, got {args.last!r}")
    if not args.factor > 1:
        raise ConfigError(f"--factor: expected a number > 1, got {args.factor:g}")
    try:
        peak = Window.parse(args.peak)
    except ValueError as exc:
        raise ConfigError(f"--peak: {exc}") from None
    end = None
    if args.at is not None:
        try:
            end = parse_instant(args.at)
        except ValueError:
            raise ConfigError(f"--at: expected an ISO 8601 instant, got {args.at!r}") from None
    url = ""
    if args.webhook:
        url = check_webhook(args.webhook, "--webhook")
    elif args.webhook_env:
        url = AlertSpec(webhook_env=args.webhook_env).webhook_url()
    opts = check.CheckOptions(args.factor, _rate(args.rate_jump), peak=peak)
    path = args.store or DEFAULT_STORE
    existing(path)
    out = alerting.run_check(
        path,
        tz,
        opts,
        start=end - timedelta(seconds=last) if end else None,
        end=end,
        last_s=last,
        targets=tuple(args.target),
        include_saturated=args.include_saturated,
    )
    if out is None or not out.judged_runs:
        span = (
            "no interval is stored"
            if out is None
            else f"none from {out.start:%Y-%m-%d %H:%M} to {out.end:%Y-%m-%d %H:%M} {args.tz}"
        )
        print(f"loadtest: error: {path}: no probe runs to judge ({span})", file=sys.stderr)
        return ExitCode.FAILED
    payload = out.as_json(opts, args.tz)
    to_stdout = args.json == "-"
    if args.json:
        emit(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n", args.json)
    if not to_stdout:
        for line in alerting.lines(out, args.tz):
            print(line)
    if out.alerts and url:
        why = alerting.post(url, payload)
        print(
            f"warning: {why}" if why else f"posted to {redact.origin(url)}",
            file=sys.stderr if why or to_stdout else sys.stdout,
        )
    return ExitCode.ALERT if out.alerts else ExitCode.OK
