"""The summary of a run that never wrote summary.json (killed), rebuilt from its files.

A run writes run.json (its id) and profile.json before the load starts, then appends
results.jsonl (one line per request) and intervals.hlog (one line per target and metric
per interval) as each interval closes. From them this rebuilds what summary.json would
have said: the counts, errors and tokens of every target from results.jsonl, and the
metrics' percentiles from the histograms of the log, so at most the open interval is
lost. The summary is marked incomplete (`run.stopped_by` "incomplete", `run.incomplete`).
A line cut short by the kill (the last one of a file) is skipped. Client health, clipped
values and thresholds were never written as the run went: they are empty.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram

from loadtest import hlog, messages
from loadtest.errors import NOT_SERVER_FAILURES
from loadtest.instants import format_epoch
from loadtest.metrics import E2E, METRICS, unit_of
from loadtest.schema import IntervalRow, MetricStats, RunInfo, Summary, TargetSummary
from loadtest.sinks import count_line
from loadtest.summary_stats import rates_of, stats
from loadtest.tally import release

RUN_FILE = "run.json"
RESULTS = "results.jsonl"
LOG = "intervals.hlog"
INCOMPLETE = "incomplete"
_START = re.compile(r"#\[StartTime: ([0-9.]+)")


def _json_lines(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file; a line that does not parse (cut short) is skipped."""
    out = []
    if path.is_file():
        for raw in path.read_bytes().splitlines():
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(line, dict):
                out.append(line)
    return out


def _log(path: Path) -> tuple[float | None, list[tuple[str, float, float, bytes]]]:
    """(the log's StartTime, (tag, start s, length s, histogram) of each whole line)."""
    start: float | None = None
    lines = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if m := _START.match(line):
                start = float(m.group(1))
            elif line.startswith("Tag="):
                try:
                    tag, s, length, _, encoded = hlog.parse_line(line)
                    release(HdrHistogram.decode(encoded))  # decodes whole, or was cut short
                except (ValueError, TypeError):
                    continue  # cut short by the kill
                lines.append((tag, s, length, encoded))
    return start, lines


def rebuild_summary(run_dir: str | Path) -> Summary:
    """The summary of the run in RUN_DIR from run.json, profile.json, results.jsonl and
    intervals.hlog; OSError or ValueError when profile.json is missing or broken."""
    d = Path(run_dir)
    profile = orjson.loads((d / "profile.json").read_bytes())
    if not isinstance(profile, dict):
        raise ValueError("profile.json is not a profile")
    run_file = _json_lines(d / RUN_FILE)
    run_id = str(run_file[0].get("id", "")) if run_file else ""
    log_start, log_lines = _log(d / LOG)
    results = _json_lines(d / RESULTS)
    start_s = log_start if log_start is not None else (d / RESULTS).stat().st_mtime
    spans = sorted({(s, length) for _, s, length, _ in log_lines})
    last_ms = max(
        [(s + length) * 1000 for s, length in spans]
        + [_end_ms(r) for r in results if isinstance(r.get("intended_ms"), int | float)]
        + [float(r["until_ms"]) for r in results if isinstance(r.get("until_ms"), int | float)],
        default=0.0,
    )
    seconds = max(1e-9, last_ms / 1000)
    warmup_s = float(profile.get("warmup_s", 0.0))
    default_load = profile.get("load") or {}
    targets: dict[str, TargetSummary] = {}
    by_target: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_target.setdefault(str(r.get("target")), []).append(r)
    for spec in profile.get("targets", []):
        name = spec["name"]
        load = spec.get("load") or default_load
        totals = _totals(log_lines, hlog.target_tag(name))
        targets[name] = _target(spec, load, by_target.get(name, []), totals, spans)
        lines = by_target.get(name, [])
        window_s = max(0.0, _last_send_ms(lines) / 1000 - warmup_s)
        q = targets[name]["requests"]
        targets[name]["rates"] = rates_of(
            q["completed"],
            q["failed"],
            q["recorded"] + q["abandoned"],
            targets[name]["tokens"]["output"],
            window_s,
        )
    run: RunInfo = {
        "incomplete": True,
        "start_utc": format_epoch(start_s),
        "end_utc": format_epoch(start_s + seconds),
        "duration_s": round(seconds, 3),
        "warmup_s": warmup_s,
        "stopped_by": INCOMPLETE,
        "host": "",
        "platform": "",
        "versions": {},
    }
    if run_id:
        run["id"] = run_id
    return {
        "profile": str(profile.get("name", d.name)),
        "profile_path": str(profile.get("path", "")),
        "run": run,
        "client_health": {
            "loop_lag_max_ms": 0.0,
            "cpu_percent_max": 0.0,
            "saturated_intervals": 0,
            "intervals": 0,
        },
        "targets": targets,
    }


def _end_ms(r: dict[str, Any]) -> float:
    """When the request of line R ended (ms from the run's start), as near as the line says."""
    sent = r.get("sent_ms")
    e2e = r.get(E2E)
    if isinstance(sent, int | float):
        return float(sent) + (float(e2e) if isinstance(e2e, int | float) else 0.0)
    return float(r["intended_ms"])


def _totals(
    lines: list[tuple[str, float, float, bytes]], target_tag: str
) -> dict[str, HdrHistogram]:
    """Metric -> the sum of TARGET_TAG's interval histograms."""
    out: dict[str, HdrHistogram] = {}
    for tag, _, _, encoded in lines:
        tagged, _, metric = tag.rpartition("/")
        if tagged != target_tag:
            continue
        h = HdrHistogram.decode(encoded)
        if metric in out:
            out[metric].add(h)
            release(h)
        else:
            out[metric] = h
    return out


def _target(
    spec: dict[str, Any],
    load: dict[str, Any],
    lines: list[dict[str, Any]],
    totals: dict[str, HdrHistogram],
    spans: list[tuple[float, float]],
) -> TargetSummary:
    """One target's block from its results lines and summed histograms."""
    n: Counter[str] = Counter()
    said: Counter[messages.Key] = Counter()
    rows = [_empty_row(s, length) for s, length in spans]
    for r in lines:
        error, detail = r.get("error"), r.get("detail")
        is_text = isinstance(error, str) and isinstance(detail, str)
        if r.get("measured") and is_text and error not in NOT_SERVER_FAILURES:
            messages.count(said, str(error), str(detail))
        one: Counter[str] = Counter()
        skipped = r.get("skipped")
        if isinstance(skipped, dict):  # the counts of requests the profile left out
            one.update({str(k): int(v) for k, v in skipped.items() if isinstance(v, int)})
            row = _row_ending(rows, float(r.get("until_ms") or 0.0) / 1000)
        else:
            count_line(r, one)
            row = _row_of(rows, _end_ms(r) / 1000)
        n.update(one)
        if row is not None:
            row["completed"] += one["completed"]
            row["failed"] += one["failed"]
            for key, count in one.items():
                if key.startswith("error:"):
                    row["errors"][key[6:]] = row["errors"].get(key[6:], 0) + count
    errors = {k[6:]: v for k, v in n.items() if k.startswith("error:") and v}
    metrics: dict[str, MetricStats] = {}
    for m in METRICS:
        unit, scale = unit_of(m)
        metrics[m] = stats(totals[m], scale, unit) if m in totals else {"unit": unit, "count": 0}
    mode = str(load.get("mode", "closed"))
    return {
        "kind": str(spec.get("kind", "")),
        "model": str(spec.get("model", "")),
        "base_url": str(spec.get("base_url", "")),
        "load": {
            "mode": mode,
            "concurrency": int(load.get("concurrency", 0)),
            "rate": float(load.get("rate", 0.0)) if mode == "open" else None,
        },
        "requests": {
            "sent": n["sent"],
            "warmup": n["warmup"],
            "recorded": n["recorded"],
            "completed": n["completed"],
            "failed": n["failed"],
            "abandoned": n["abandoned"],
            "late": n["late"],
            "shed": n["shed"],
            "unsent": n["unsent"],
        },
        "rates": {"requests_per_s": 0.0, "output_tokens_per_s": 0.0, "error_rate": 0.0},
        "tokens": {
            "input": n["tokens:input"],
            "output": n["tokens:output"],
            "requests_with_counted_tokens": n["tokens:counted"],
            "requests_with_zero_output": n["tokens:zero"],
            "requests_with_reasoning": n["tokens:reasoned"],
        },
        "errors": dict(sorted(errors.items())),
        "messages": messages.listed(said),
        "clipped": {},
        "stopped_by": INCOMPLETE,
        "metrics": metrics,
        "intervals": rows,
    }


def _empty_row(start_s: float, length_s: float) -> IntervalRow:
    return {
        "start_s": start_s,
        "length_s": length_s,
        "completed": 0,
        "failed": 0,
        "errors": {},
        "rate_limit": {},
    }


def _row_of(rows: list[IntervalRow], at_s: float) -> IntervalRow | None:
    """The interval row whose span holds AT_S; None past the log's last (the open one)."""
    for row in rows:
        if row["start_s"] <= at_s < row["start_s"] + row["length_s"]:
            return row
    return None


def _row_ending(rows: list[IntervalRow], at_s: float) -> IntervalRow | None:
    """The interval row that ends nearest AT_S (the log rounds its times to the ms)."""
    return min(rows, key=lambda row: abs(row["start_s"] + row["length_s"] - at_s), default=None)


def _last_send_ms(lines: list[dict[str, Any]]) -> float:
    """When a target's last request went out (ms from the start) as its lines say: the
    end of its measured window, which the kill cut short; a line of skipped counts
    stands for requests up to its `until_ms`."""
    sends = [float(r["sent_ms"]) for r in lines if isinstance(r.get("sent_ms"), int | float)]
    sends += [float(r["until_ms"]) for r in lines if isinstance(r.get("until_ms"), int | float)]
    return max(sends, default=0.0)
