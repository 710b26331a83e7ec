"""Alerts from the run history: read the store for a check (loadtest.check judges),
say what it found, and POST it to a webhook.

Used by `loadtest check` and by the scheduler after each probe (`[schedule] alert`).
A webhook URL is a secret of its own (a Slack or PagerDuty URL carries its token in
its path): it comes from the profile, a flag or an environment variable, and only its
scheme and host are ever written.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from loadtest import check, probes, redact, store, timeofday
from loadtest.instants import parse_instant
from loadtest.peak import Window
from loadtest.schedule import AlertSpec

WEBHOOK_TIMEOUT_S = 5.0
OFF_PEAK_DAYS = 7  # the off-peak baseline shown beside: the week before the judged span


def options(spec: AlertSpec) -> check.CheckOptions:
    """The check SPEC asks for."""
    return check.CheckOptions(spec.factor, spec.rate_jump, peak=Window.parse(spec.peak))


def run_check(
    db_path: str,
    tz: ZoneInfo,
    opts: check.CheckOptions,
    start: datetime | None = None,
    end: datetime | None = None,
    last_s: float = 3600.0,
    targets: tuple[str, ...] = (),
    include_saturated: bool = False,
) -> check.Outcome | None:
    """Judge the intervals that start in [START, END] against the history before them.
    END defaults to the newest stored interval's start, START to LAST_S before END.
    None when the store holds no interval at all."""
    with contextlib.closing(store.connect(db_path)) as db:
        if end is None:
            newest = store.newest_interval(db, targets)
            if newest is None:
                return None
            end = parse_instant(newest)
        end = end.astimezone(tz)
        if start is None:
            start = end - timedelta(seconds=last_s)
        start = start.astimezone(tz)
        cells = _hours(start, end, tz)
        off_since = start - timedelta(days=OFF_PEAK_DAYS)

        def keep(metric: str, at: datetime) -> bool:
            # Decoding is most of a check's time: only the span's hours of the week, and
            # the off-peak of the week before it.
            return metric in check.LATENCY and (
                probes.cell_of(at) in cells
                or (off_since <= at <= start and not opts.peak.holds(at))
            )

        rows, counts = timeofday.load_intervals(db, tz, None, targets, include_saturated, keep)
        stored = probes.load_probes(db, tz, None, targets)
    out = check.Outcome(start, end, check.judge(rows, counts, start, end, opts))
    kept = stored if include_saturated else [p for p in stored if not p.saturated]
    out.judged_runs = check.judged_runs(kept, start, end)
    if not include_saturated:
        out.left_out = check.left_out(stored, start, end)
    return out


def _hours(start: datetime, end: datetime, tz: ZoneInfo) -> set[probes.Cell]:
    """The (weekday, hour) cells in TZ that (START, END] touches."""
    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out = set()
    while at <= end:
        out.add(probes.cell_of(at.astimezone(tz)))
        at += timedelta(hours=1)
    return out


def lines(out: check.Outcome, tz: str) -> list[str]:
    """What the check found, for a terminal or a log: a headline, then each alert on a
    line of its own and each other target and hour on one line, then what was left
    out."""
    span = f"{out.start:%a %Y-%m-%d %H:%M} to {out.end:%H:%M} {tz}"
    runs = sum(out.judged_runs.values())
    alerts = out.alerts
    head = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}" if alerts else "no alert"
    text = [f"check: {head}, {runs} run{'s' if runs != 1 else ''} judged, {span}"]
    groups: dict[tuple[str, tuple[int, int]], list[check.Finding]] = {}
    for f in out.findings:
        groups.setdefault((f.target, f.cell), []).append(f)
    for found in groups.values():
        worse = [f for f in found if f.verdict == "alert"]
        if worse:
            text += [f.line() for f in worse]
            continue
        first = found[0]
        verdicts = {f.verdict for f in found if f.metric in check.LATENCY}
        verdict = "ok" if "ok" in verdicts else min(verdicts or {"too few"})
        note = ""
        if verdict == "no history":
            note = " (no earlier history for this hour of the week)"
        elif verdict == "too few":
            note = " (too few requests to judge)"
        text.append(
            f"{verdict.upper():10} {first.target} {first.hour}: "
            + ", ".join(f.brief() for f in found)
            + note
        )
    for target, n in sorted(out.left_out.items()):
        text.append(
            f"left out {target}'s runs whose client was saturated: {n['judged']} in the "
            f"judged span, {n['history']} in its history"
        )
    return text


def post(url: str, payload: dict[str, object]) -> str:
    """POST PAYLOAD as JSON to URL; '' when the server took it (2xx), else why not (with
    the URL's origin only)."""
    body = orjson.dumps(payload)
    req = urllib.request.Request(
        redact.strip_userinfo(url),
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "loadtest-check"},
    )
    creds = redact.credentials(url)
    if creds is not None:
        import base64

        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    where = redact.origin(url)
    host = urllib.parse.urlsplit(url).hostname or ""
    # A proxy from the environment is for the outside world, not for this machine.
    handlers = (
        [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
    )
    try:
        with urllib.request.build_opener(*handlers).open(req, timeout=WEBHOOK_TIMEOUT_S) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        return f"webhook {where}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"webhook {where}: {type(reason).__name__}" + (
            f" ({reason})" if isinstance(reason, str) else ""
        )
    return ""


def check_run(
    spec: AlertSpec, webhook: str, db_path: str, tz_name: str, run_dir: Path
) -> tuple[list[str], int]:
    """The scheduler's check after a probe: RUN_DIR's span judged against the history
    before it; its JSON written into RUN_DIR (check.json) and to spec.json, POSTed to
    WEBHOOK on an alert. The lines to log, and the number of alerts."""
    from loadtest.instants import zone

    tz = zone(tz_name)
    with contextlib.closing(store.connect(db_path)) as db:
        span = store.run_span(db, run_dir.name)
    if span is None:
        return [f"check: {run_dir.name} is not in {db_path}; nothing judged"], 0
    # (start, end]: a hair before the run's start, so that its first interval is judged
    start = parse_instant(span[0]) - timedelta(milliseconds=1)
    out = run_check(
        db_path,
        tz,
        options(spec),
        start,
        parse_instant(span[1]),
        include_saturated=spec.include_saturated,
    )
    if out is None:
        return ["check: nothing stored to judge"], 0
    opts = options(spec)
    payload = out.as_json(opts, tz_name)
    text = orjson.dumps(payload, option=orjson.OPT_INDENT_2)
    said = lines(out, tz_name)
    for path in (run_dir / "check.json", Path(spec.json) if spec.json else None):
        if path is None:
            continue
        try:
            path.write_bytes(text + b"\n")
        except OSError as exc:
            said.append(f"warning: check: cannot write {path} ({exc.strerror})")
    if out.alerts and webhook:
        why = post(webhook, payload)
        said.append(
            f"warning: check: {why}" if why else f"check: posted to {redact.origin(webhook)}"
        )
    return said, len(out.alerts)
