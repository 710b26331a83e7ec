#!/usr/bin/env python3
"""What running a load over worker processes costs. Run by hand; quote the medians.

Two parts, each with `--workers 1` and `--workers 2` in alternating rounds, the whole
loadtest process tree (the parent and its workers) pinned to the second CPU and the
server to the first, so the extra worker has no core of its own: what grows is what
the split and the merge cost.

- cpu: nginx serves bench_engine's 128-event body; an open loop at a fixed rate well
  under one core's capacity. Measured from outside, over the steady middle of the run:
  CPU seconds of the whole tree (/proc) per 1,000 requests that finished in that
  window (results.jsonl). Target: at most 5% more with two workers.
- ttft: the simulator with a fixed 100 ms TTFT and 10 ms gaps (bench_engine's fidelity
  model), an open loop at half the client's capacity for it (probed as bench_engine
  does); measured minus injected TTFT and ITL, P50 and P99. Target: two workers add at
  most 1 ms.

    python scripts/bench_scaling.py                   # both, about 4 minutes
    python scripts/bench_scaling.py --part cpu --rounds 5 --rate 600
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine as be


def _tree_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds of PID itself, and of its living children (the worker processes)."""
    own = be.proc_cpu_s(pid)
    children = 0.0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children += sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")
    return own, children


def _steady_run(
    profile: str, workers: int, cpu: int, tmp: Path, at_s: float, for_s: float
) -> dict[str, Any]:
    """A run of PROFILE with WORKERS; CPU of its tree from AT_S to AT_S + FOR_S after its
    start, and the requests that finished in that window."""
    path = tmp / "scaling.toml"
    path.write_text(profile)
    out_dir = tmp / "reports"
    before = set(out_dir.glob("*")) if out_dir.exists() else set()
    cmd = [sys.executable, "-m", "loadtest", "run", str(path), "--out", str(out_dir)]
    cmd += ["--quiet", "--workers", str(workers), "--no-preflight"]
    proc = subprocess.Popen(cmd, preexec_fn=be.pinned(cpu), stdout=subprocess.PIPE, text=True)
    started = time.time()
    time.sleep(at_s)
    c0, w0 = _tree_cpu_s(proc.pid), time.time()
    time.sleep(for_s)
    c1, w1 = _tree_cpu_s(proc.pid), time.time()
    parent_s, workers_s = c1[0] - c0[0], c1[1] - c0[1]
    proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"bench_scaling: loadtest run --workers {workers} failed")
    (run_dir,) = set(out_dir.glob("*")) - before
    summary = json.loads((run_dir / "summary.json").read_text())
    from loadtest.instants import parse_instant

    start = parse_instant(summary["run"]["start_utc"]).timestamp()
    lo, hi = (w0 - start) * 1000, (w1 - start) * 1000
    done = 0
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        x = json.loads(line)
        if x.get("e2e") is not None and x.get("sent_ms") is not None:
            done += lo <= x["sent_ms"] + x["e2e"] < hi
    shutil.rmtree(run_dir)
    assert started < w0
    return {
        "cpu_s": parent_s + workers_s,
        "parent_cpu_s": parent_s,
        "requests": done,
        "summary": summary,
    }


def cpu_part(args: argparse.Namespace, cpus: tuple[int, int], tmp: Path) -> dict[str, Any]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("bench_scaling: nginx not found (apt-get install nginx-light)")
    www = tmp / "www" / "v1" / "chat"
    www.mkdir(parents=True)
    (www / "completions").write_bytes(be.sse_body())
    port = be.free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(be.NGINX_CONF.format(dir=tmp, port=port))
    server = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(tmp)], preexec_fn=be.pinned(cpus[0])
    )
    profile = be.PROFILE.format(
        name="bench-scaling-cpu",
        duration=args.seconds + 4,
        warmup=2,
        load=f'mode = "open"\nrate = {args.rate:g}\nmax_in_flight = 20000',
        tokens=be.EVENTS,
        base_url=f"http://127.0.0.1:{port}/v1",
    )
    rows: dict[int, list[float]] = {1: [], 2: []}
    try:
        be.wait_for_port(port)
        print(
            f"nginx on CPU {cpus[0]} ({be.EVENTS}-event bodies); loadtest tree on CPU {cpus[1]}, "
            f"open loop at {args.rate:g} req/s, {args.seconds:g} s measured per run"
        )
        for rnd in range(args.rounds):
            got = {}
            for n in (1, 2):
                r = _steady_run(profile, n, cpus[1], tmp, 3.5, args.seconds)
                per_1k = r["cpu_s"] / max(1, r["requests"]) * 1000
                rows[n].append(per_1k)
                parent = r["parent_cpu_s"] / max(1, r["requests"]) * 1000
                got[n] = f"{per_1k:.3f} CPU s per 1,000 (parent {parent:.3f})"
            print(f"round {rnd + 1}: 1 worker {got[1]}; 2 workers {got[2]}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    one, two = statistics.median(rows[1]), statistics.median(rows[2])
    print(
        f"median CPU s per 1,000 requests: 1 worker {one:.3f}, 2 workers {two:.3f}: "
        f"{two / one:.3f}x (target at most 1.05x)"
    )
    return {"rounds": rows, "median": {"1": one, "2": two}, "ratio": two / one}


def ttft_part(args: argparse.Namespace, cpus: tuple[int, int], tmp: Path) -> dict[str, Any]:
    from bench_simulator import CONFIG as SIM_CONFIG

    from loadtest.sim.process import Simulator

    cfg = tmp / "sim.toml"
    cfg.write_text(
        SIM_CONFIG.format(
            ttft=be.FIDELITY_TTFT_MS, ttft_p95=be.FIDELITY_TTFT_MS * 1.0001, rate=100.0
        )
    )
    out: dict[str, Any] = {"rounds": []}
    with Simulator(cfg, seed=1, workers=1) as sim:
        os.sched_setaffinity(sim.pid, {cpus[0]})
        base = sim.base_url + "/v1"

        def profile(rate: float) -> str:
            return be.PROFILE.format(
                name="bench-scaling-ttft",
                duration=args.fidelity_seconds,
                warmup=3,
                load=f'mode = "open"\nrate = {rate:.1f}\nmax_in_flight = 20000',
                tokens=be.FIDELITY_TOKENS,
                base_url=base,
            )

        probe = be.run_loadtest(profile(args.probe_rate), cpus[1], tmp)["summary"]
        busy = statistics.median(
            h["cpu_percent"] for h in probe["client_health"]["per_interval"][1:-1]
        )
        half = args.probe_rate / (busy / 100) / 2
        print(
            f"\nsimulator on CPU {cpus[0]} (TTFT {be.FIDELITY_TTFT_MS:g} ms, gaps "
            f"{be.FIDELITY_GAP_MS:g} ms); at {args.probe_rate:g} req/s one process is "
            f"{busy:.0f}% busy: half capacity is {half:,.0f} req/s"
        )
        for rnd in range(args.rounds):
            row = {}
            for n in (1, 2):
                r = _steady_run(profile(half), n, cpus[1], tmp, 4.0, args.fidelity_seconds - 6)
                s = r["summary"]
                row[n] = {
                    k: be._metric(s, m, p) - inj
                    for k, m, p, inj in (
                        ("ttft_p50", "ttft", "p50", be.FIDELITY_TTFT_MS),
                        ("ttft_p99", "ttft", "p99", be.FIDELITY_TTFT_MS),
                        ("itl_p50", "itl", "p50", be.FIDELITY_GAP_MS),
                        ("itl_p99", "itl", "p99", be.FIDELITY_GAP_MS),
                    )
                }
            out["rounds"].append(row)
            print(
                f"round {rnd + 1}: error ms (TTFT p50/p99, ITL p50/p99): 1 worker "
                + "/".join(f"{v:.2f}" for v in row[1].values())
                + "; 2 workers "
                + "/".join(f"{v:.2f}" for v in row[2].values()),
                flush=True,
            )
    med = {
        n: {k: statistics.median(r[n][k] for r in out["rounds"]) for k in out["rounds"][0][n]}
        for n in (1, 2)
    }
    added = {k: med[2][k] - med[1][k] for k in med[1]}
    print(
        "median added by the second worker, ms: "
        + ", ".join(f"{k} {v:+.2f}" for k, v in added.items())
        + " (target: TTFT within 1 ms)"
    )
    out |= {"half_rate": half, "median": med, "added": added}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--part", choices=("all", "cpu", "ttft"), default="all")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=500.0, help="the cpu part's rate (req/s)")
    ap.add_argument("--seconds", type=float, default=8.0, help="the cpu part's measured span")
    ap.add_argument("--fidelity-seconds", type=int, default=16)
    ap.add_argument("--probe-rate", type=float, default=300.0)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("bench_scaling: needs two CPUs", file=sys.stderr)
        return 2
    cpus = (cores[0], cores[1])
    os.sched_setaffinity(0, {cpus[0]})
    out: dict[str, Any] = {"cpus": cpus}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.part in ("all", "cpu"):
            out["cpu"] = cpu_part(args, cpus, tmp)
        if args.part in ("all", "ttft"):
            out["ttft"] = ttft_part(args, cpus, tmp)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
