"""A target's server-side block of summary.json, from its scrapes (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping

from loadtest import redact
from loadtest.schema import MetricStats, ServerGauge, ServerInterval, ServerMetric, ServerSide
from loadtest.server_metrics import Delta, Hist, total
from loadtest.server_scrape import Row, Track

INTERPOLATED = (
    "interpolated inside the server's histogram buckets (means exact); those in at_most "
    "fell in the first bucket and are its bound"
)
COMPARED = ("ttft", "itl", "e2e")  # the metrics the client measures too


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 3)


QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


def _p(h: Hist, q: float) -> float | None:
    """The Q-quantile of H in ms, as Hist.estimate gives it."""
    return _ms(h.estimate(q)[0])


def metric(h: Hist) -> ServerMetric:
    """H's count, exact mean and interpolated percentiles, in ms; a percentile in the
    first bucket is that bucket's bound, named in `at_most`."""
    estimates = {key: h.estimate(q) for key, q in QUANTILES}
    out: ServerMetric = {
        "count": int(h.count),
        "mean": _ms(h.mean()),
        "p50": _ms(estimates["p50"][0]),
        "p95": _ms(estimates["p95"][0]),
        "p99": _ms(estimates["p99"][0]),
    }
    bounded = [key for key, (_, bound) in estimates.items() if bound]
    if bounded:
        out["at_most"] = bounded
    return out


def _q(h: Hist, q: float) -> str:
    """The Q-quantile for the dashboard: ~ interpolated, or <= the first bucket's bound."""
    value, bound = h.estimate(q)
    return f"{'<=' if bound else '~'}{_num(value)}"


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    ms = v * 1000
    return f"{ms:.0f}" if ms >= 10 else f"{ms:.1f}"


def dashboard_line(d: Delta) -> str:
    """The server's side of one interval in a line: TTFT p50/p95 (interpolated, hence
    ~) and mean, ITL p95 | queue p95, running and waiting requests, KV cache in use."""
    parts = []
    h = d.hists
    if "ttft" in h and h["ttft"].count:
        t = h["ttft"]
        parts.append(f"TTFT {_q(t, 0.5)}/{_q(t, 0.95).lstrip('~')} mean {_num(t.mean())}")
    if "itl" in h and h["itl"].count:
        parts.append(f"ITL p95 {_q(h['itl'], 0.95)}")
    load = []  # what the server holds: the dashboard puts it on a line of its own
    if "queue" in h and h["queue"].count:
        load.append(f"queue p95 {_q(h['queue'], 0.95)}")
    g = d.gauges
    if "running" in g or "waiting" in g:
        load.append(f"run {g.get('running', 0):.0f} wait {g.get('waiting', 0):.0f}")
    if "kv_cache" in g:
        load.append(f"KV {g['kv_cache']:.0%}")
    if not parts and not load:
        return "no requests seen"
    return " | ".join(x for x in (" ".join(parts), " ".join(load)) if x)


def interval_row(r: Row, start_ns: int) -> ServerInterval:
    """One row of per_interval: timed from the run's start like the client's."""
    begin = max(r.start_ns, start_ns)
    d = r.delta
    row: ServerInterval = {
        "start_s": round((begin - start_ns) / 1e9, 3),
        "length_s": round(max(0, r.end_ns - begin) / 1e9, 3),
    }
    if "requests" in d.counters:
        row["requests"] = d.counters["requests"]
    h = d.hists
    if "ttft" in h:
        row["ttft_mean"] = _ms(h["ttft"].mean())
        row["ttft_p50"] = _p(h["ttft"], 0.5)
        row["ttft_p95"] = _p(h["ttft"], 0.95)
    if "itl" in h:
        row["itl_p95"] = _p(h["itl"], 0.95)
    if "e2e" in h:
        row["e2e_p95"] = _p(h["e2e"], 0.95)
    if "queue" in h:
        row["queue_mean"] = _ms(h["queue"].mean())
        row["queue_p95"] = _p(h["queue"], 0.95)
    for g in ("running", "waiting", "kv_cache"):
        if g in d.gauges:
            row[g] = d.gauges[g]
    return row


def measured(rows: list[Row], from_ns: int) -> Delta:
    """The rows of the measured window (those whose middle is past the warm-up) as one."""
    return total(r.delta for r in rows if (r.start_ns + r.end_ns) // 2 >= from_ns)


def server_side(
    track: Track, start_ns: int, warmup_s: float, client: Mapping[str, MetricStats]
) -> ServerSide:
    """TRACK as summary.json's `server` block of its target; CLIENT: that target's own
    metrics, for the difference (the client's figure minus the server's)."""
    from_ns = start_ns + int(warmup_s * 1e9)
    run = measured(track.rows, from_ns)
    metrics = {k: metric(h) for k, h in run.hists.items()}
    differences: dict[str, dict[str, float | None]] = {}
    for k in COMPARED:
        c, s = client.get(k), metrics.get(k)
        if c is None or s is None or not c.get("count") or not s["count"]:
            continue
        bounded = s.get("at_most", [])
        differences[k] = {
            "mean": _minus(c.get("mean"), s["mean"]),
            "p50": None if "p50" in bounded else _minus(c.get("p50"), s["p50"]),
            "p95": None if "p95" in bounded else _minus(c.get("p95"), s["p95"]),
        }
    window = [r for r in track.rows if (r.start_ns + r.end_ns) // 2 >= from_ns]
    gauges: dict[str, ServerGauge] = {}
    for g in ("running", "waiting", "kv_cache"):
        reads = [r.delta.gauges[g] for r in window if g in r.delta.gauges]
        if reads:
            gauges[g] = {"mean": round(statistics.fmean(reads), 4), "max": max(reads)}
    first = track.first.server if track.first is not None else ""
    out: ServerSide = {
        "source": redact.url(track.url),
        "server": first,
        "scrapes": track.scrapes,
        "failed_scrapes": track.failures,
        "percentiles": INTERPOLATED,
        "metrics": metrics,
        "client_minus_server": differences,
        "gauges": gauges,
        "counters": dict(sorted(run.counters.items())),
        "per_interval": [interval_row(r, start_ns) for r in track.rows],
    }
    if track.note:
        out["note"] = track.note
    if track.first is not None and track.end is not None and track.first.raw:
        end = track.end.raw
        out["raw"] = {k: [v, end[k]] for k, v in sorted(track.first.raw.items()) if k in end}
    return out
