"""summary.json: per target counts, rates, percentiles of every metric, errors; run metadata."""

from __future__ import annotations

import contextlib
import platform
import socket
import sys
from importlib import metadata

from loadtest import __version__, redact
from loadtest import messages as said
from loadtest.instants import format_epoch, parse_instant
from loadtest.metrics import METRICS, unit_of
from loadtest.pricing import cost_of
from loadtest.profile import Profile
from loadtest.records import Health
from loadtest.schema import (
    HealthInterval,
    MetricStats,
    Requests,
    SimClock,
    Summary,
    TargetSummary,
)
from loadtest.shard_io import RunResult
from loadtest.step_summary import step_rows
from loadtest.summary_load import applied, load_info, prompt_tokens
from loadtest.summary_quality import agent_tasks, billed_usd, price_of, quality_of, retries_of
from loadtest.summary_stats import rates_of, stats
from loadtest.tasks import AGENT
from loadtest.thresholds import evaluate


def summarize(
    result: RunResult,
    profile: Profile,
    interrupted: bool = False,
    run_id: str = "",
    sim_rate: float | None = None,
) -> Summary:
    """The content of summary.json; RUN_ID: the run's unique id (`run.id`), when it has one;
    SIM_RATE: the simulator clock's rate as read before the run (`--clock simulator`)."""
    seconds = max(1e-9, (result.end_ns - result.start_ns) / 1e9)
    everything = (result.start_ns + int(profile.warmup_s * 1e9), result.end_ns)
    targets: dict[str, TargetSummary] = {}
    spec = {t.name: t for t in profile.targets}
    for name, tr in result.targets.items():
        counts = result.recorder.total_counts[name]
        hists = result.recorder.total[name]
        metrics: dict[str, MetricStats] = {}
        for m in METRICS:
            unit, scale = unit_of(m)
            metrics[m] = stats(hists[m], scale, unit)
        target, load = spec[name], profile.load_of(spec[name])
        requests: Requests = {
            "sent": tr.sent,
            "warmup": tr.warmup,
            "recorded": tr.recorded,
            "completed": counts.completed,
            "failed": counts.failed,
            "abandoned": tr.abandoned,
            "late": tr.late,
            "shed": tr.shed,
            "unsent": tr.unsent,
        }
        if profile.slo is not None:
            requests["good"] = counts.good
        w0, w1 = result.windows.get(name, everything)
        targets[name] = {
            "kind": target.kind,
            "model": target.model,
            "base_url": redact.url(target.base_url),  # never a user or password
            "load": load_info(load, profile.duration_s),
            # sent = warmup + completed + failed + abandoned; shed and unsent never went out
            "requests": requests,
            "rates": rates_of(
                counts.completed,
                counts.failed,
                tr.recorded + tr.abandoned,
                counts.output_tokens,
                max(0, w1 - w0) / 1e9,
                counts.good if profile.slo else None,
            ),
            "tokens": {
                "input": counts.input_tokens,
                "output": counts.output_tokens,
                "requests_with_counted_tokens": counts.counted_tokens,
                "requests_with_zero_output": counts.zero_output,
                "requests_with_reasoning": counts.reasoned,
            },
            "prompt_tokens": prompt_tokens(result.prompt_lengths, name, counts),
            "errors": dict(sorted(counts.errors.items())),
            "messages": said.listed(counts.messages),
            "clipped": dict(sorted(counts.clipped.items())),
            "stopped_by": tr.stopped_by or result.stopped_by,
            "rate_limit": dict(sorted(counts.ratelimit.items())),  # latest headers seen
            "metrics": metrics,
            "intervals": [
                {
                    "start_s": round((start - result.start_ns) / 1e9, 3),
                    "length_s": round((end - start) / 1e9, 3),
                    "completed": c[name].completed,
                    "failed": c[name].failed,
                    "errors": dict(sorted(c[name].errors.items())),
                    "rate_limit": dict(sorted(c[name].ratelimit.items())),
                }
                for start, end, c in result.timeline
            ],
        }
        agent = profile.workload_of(target).kind == AGENT
        quality = quality_of(counts.outcomes, max(0, w1 - w0) / 1e9, agent)
        if quality is not None:
            targets[name]["quality"] = quality
        price = price_of(target)
        if price is not None:
            targets[name]["cost"] = cost_of(
                price,
                counts.input_tokens,
                counts.output_tokens,
                counts.completed + counts.failed,
                counts.completed if quality is None else quality["succeeded"],
                counts.good if profile.slo is not None else None,
                billed_usd(profile, counts.billed) if counts.billed else None,
                counts.cached_tokens,
            )
        if target.retry.active:
            targets[name]["retries"] = retries_of(counts, quality)
        if agent:
            cost = targets[name].get("cost")
            usd = cost["usd"] if cost is not None else None
            tasks = agent_tasks(
                metrics, counts.completed, counts.input_tokens + counts.output_tokens, usd
            )
            if tasks is not None:
                targets[name]["tasks"] = tasks
        steps = result.recorder.steps.get(name)
        if steps is not None:
            targets[name]["steps"] = step_rows(
                load,
                profile.duration_s,
                profile.warmup_s,
                (w1 - result.start_ns) / 1e9,
                steps,
                result.recorder.highest_us,
                profile.slo is not None,
            )
    health = result.health
    gates = evaluate(profile.thresholds, targets)
    summary: Summary = {
        "profile": profile.name,
        "profile_path": profile.path,
        "run": {
            "start_utc": format_epoch(result.start_wall_s),
            "end_utc": format_epoch(result.end_wall_s),
            "duration_s": round(seconds, 3),
            "warmup_s": profile.warmup_s,
            "sim_clock": sim_clock(result.sim_marks, result.start_ns, sim_rate),
            "stopped_by": "interrupted" if interrupted else result.stopped_by,
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "versions": _versions(),
        },
        "client_health": {
            "loop_lag_max_ms": round(max((h.loop_lag_max_ms for h in health), default=0.0), 3),
            "cpu_percent_max": round(max((h.cpu_percent for h in health), default=0.0), 1),
            "saturated_intervals": result.saturated_intervals,
            "saturated_by": dict(sorted(result.saturated_by.items())),
            "intervals": result.intervals,
            "per_interval": [_health_row(h, result.start_ns) for h in health],
        },
        "applied": applied(profile),
        "targets": targets,
        "thresholds": gates,
        "thresholds_ok": all(g["ok"] for g in gates),
    }
    if run_id:
        summary["run"]["id"] = run_id
    return summary


def sim_clock(
    marks: list[tuple[int, str]], start_ns: int, known_rate: float | None = None
) -> SimClock | None:
    """The simulator's clock over the run, from (perf ns, x-sim-time) readings: its
    instant at the run's start and its rate (simulated seconds per second, the time
    warp); None when no response carried x-sim-time. The rate needs two readings a
    second or more apart; with fewer (a probe that sends everything at once) it is
    KNOWN_RATE, the rate the simulator said before the run, or else 1."""
    if not marks:
        return None
    (ns0, t0), (ns1, t1) = marks[0], marks[-1]
    real_s = (ns1 - ns0) / 1e9
    sim0 = parse_instant(t0)
    if real_s >= 1.0:
        rate = (parse_instant(t1) - sim0).total_seconds() / real_s
    else:
        rate = known_rate or 1.0
    start = sim0.timestamp() - rate * (ns0 - start_ns) / 1e9
    return {"start_utc": format_epoch(start), "rate": round(rate, 3)}


def _versions() -> dict[str, str]:
    out = {"loadtest": __version__, "python": sys.version.split()[0]}
    for pkg in ("aiohttp", "uvloop", "hdrhistogram", "orjson"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def _health_row(h: Health, start_ns: int) -> HealthInterval:
    row: HealthInterval = {
        "end_s": round((h.end_ns - start_ns) / 1e9, 3),
        "loop_lag_p99_ms": round(h.loop_lag_p99_ms, 3),
        "loop_lag_max_ms": round(h.loop_lag_max_ms, 3),
        "cpu_percent": round(h.cpu_percent, 1),
        "saturated": h.saturated,
        "cause": h.cause,
    }
    if h.worker >= 0:
        row["worker"] = h.worker
    return row
