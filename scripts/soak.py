#!/usr/bin/env python3
"""Does the client's memory stay flat over a long run? Run by hand; quote the table.

Starts `loadtest run` on an open loop at --rate against the built-in simulator (the
quickstart's three presets, 16 output tokens each), for --duration, with 1 s
intervals (so an hour passes the 2,048 points where the per-interval series turn
coarse), and reads
the client's resident memory (VmRSS, and the simulator's) every --sample. Prints
one row per sample, then the growth after the first minute (when sessions, caches
and the first histograms are built) in MB per hour and bytes per request.

    python scripts/soak.py                                  # 500 req/s for an hour
    python scripts/soak.py --duration 10m --sample 30s
    python scripts/soak.py --workers 2                      # the parent and each worker
    git worktree add /tmp/before <commit> && \\
      python scripts/soak.py --source /tmp/before --duration 10m   # an older tree

Traffic goes to 127.0.0.1 only (the built-in simulator); the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The quickstart's three presets (OpenAI and Anthropic wire formats, spread-out
# latencies: many distinct histogram values, as real traffic has), RATE split evenly.
PRESETS = (("gpt-4o-mini", "openai"), ("gpt-4o-nano", "openai"), ("claude-3-5-haiku", "anthropic"))

PROFILE = """
name = "soak"
duration = "{duration}"
interval = "1s"
records = "{records}"
[load]
mode = "open"
rate = {rate}
max_in_flight = 2000
[workload]
input_tokens = 50
output_tokens = 16
ignore_eos = true
[simulator]
seed = 1
"""

TARGET = """
[[targets]]
name = "{model}"
kind = "{kind}"
model = "{model}"
base_url = "sim"
"""


def seconds(text: str) -> float:
    """'1h', '10m', '30s' or a number of seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def rss_mb(pid: int) -> float | None:
    """The resident memory of PID in MB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """PID's child processes (the simulator, and the workers of --workers)."""
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cmdline(pid: int) -> bytes:
    """PID's command line ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def is_worker(pid: int) -> bool:
    """Whether PID is a spawned worker process (not the simulator, nor the tracker)."""
    return b"spawn_main" in cmdline(pid)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=500.0, help="requests per second")
    ap.add_argument("--duration", default="1h", help="how long (1h, 10m, 30s)")
    ap.add_argument("--sample", default="60s", help="how often to read the memory")
    ap.add_argument("--records", default="all", choices=("all", "errors", "none"))
    ap.add_argument("--source", help="a loadtest source tree to run instead of this one")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--json", help="write the samples and totals to this file")
    args = ap.parse_args()
    duration, every = seconds(args.duration), seconds(args.sample)

    work = Path(tempfile.mkdtemp(prefix="loadtest-soak-"))
    profile = work / "soak.toml"
    text = PROFILE.format(
        duration=f"{duration:g}s", records=args.records, rate=args.rate / len(PRESETS)
    ) + "".join(TARGET.format(model=m, kind=k) for m, k in PRESETS)
    if args.source:  # an older tree may not know `records`
        text = text.replace(f'records = "{args.records}"\n', "")
    profile.write_text(text)
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    cmd = [sys.executable, "-m", "loadtest", "run", str(profile), "--no-live", "--quiet"]
    cmd += ["--no-preflight", "--out", str(work / "reports")]
    if args.workers > 1:
        cmd += ["--workers", str(args.workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    samples: list[dict[str, Any]] = []
    print(f"soak: {args.rate:g} req/s for {duration:g} s, records {args.records}, in {work}")
    print(f"{'elapsed':>9} {'client MB':>10} {'workers MB':>14} {'simulator MB':>13}")
    next_at = 0.0
    while proc.poll() is None:
        now = time.monotonic() - t0
        if now >= next_at:
            client = rss_mb(proc.pid)
            kids = children(proc.pid)
            workers = [m for c in kids if is_worker(c) and (m := rss_mb(c)) is not None]
            sim = sum(filter(None, (rss_mb(c) for c in kids if b"mock" in cmdline(c))))
            if client is not None:
                samples.append(
                    {
                        "elapsed_s": round(now, 1),
                        "client_mb": client,
                        "workers_mb": workers,
                        "sim_mb": sim,
                    }
                )
                each = "/".join(f"{m:.0f}" for m in workers) or "-"
                print(f"{now:>8.0f}s {client:>10.1f} {each:>14} {sim:>13.1f}", flush=True)
            next_at += every
        time.sleep(0.5)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    # The most either child process held at any moment, the report written at the end
    # (it reads every interval back) included.
    peak_any_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        print(out, file=sys.stderr)
        print(f"soak: loadtest exited {proc.returncode}", file=sys.stderr)
        return 1
    run_dir = next((work / "reports").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    reqs = [t["requests"] for t in summary["targets"].values()]
    req = {k: sum(r[k] for r in reqs) for k in ("sent", "failed")}
    settled = [s for s in samples if s["elapsed_s"] >= 60] or samples
    first, last = settled[0], settled[-1]
    peak = max(s["client_mb"] for s in settled)
    span_s = max(1.0, last["elapsed_s"] - first["elapsed_s"])
    grown = last["client_mb"] - first["client_mb"]
    if first.get("workers_mb") and last.get("workers_mb"):
        grown_workers = [
            b - a for a, b in zip(first["workers_mb"], last["workers_mb"], strict=False)
        ]
    else:
        grown_workers = []
    requests_in_span = req["sent"] * span_s / max(1.0, summary["run"]["duration_s"])
    totals = {
        "sent": req["sent"],
        "failed": req["failed"],
        "saturated_intervals": summary["client_health"]["saturated_intervals"],
        "intervals": summary["client_health"]["intervals"],
        "summary_bytes": (run_dir / "summary.json").stat().st_size,
        "client_mb_after_1_min": first["client_mb"],
        "client_mb_peak": peak,
        "client_mb_last": last["client_mb"],
        "peak_mb_with_report": round(peak_any_mb, 1),
        "growth_mb_per_hour": round(grown * 3600 / span_s, 1),
        "growth_bytes_per_request": round(grown * 2**20 / max(1.0, requests_in_span), 1),
    }
    if grown_workers:
        totals["workers_mb_after_1_min"] = first["workers_mb"]
        totals["workers_mb_last"] = last["workers_mb"]
        totals["workers_growth_mb_per_hour"] = [round(g * 3600 / span_s, 1) for g in grown_workers]
    for k, v in totals.items():
        print(f"{k}: {v}")
    if args.json:
        Path(args.json).write_text(json.dumps({"samples": samples, "totals": totals}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
