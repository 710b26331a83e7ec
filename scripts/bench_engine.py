#!/usr/bin/env python3
"""How fast the engine is, and how true its timings are. Run by hand; quote the medians.

Capacity: nginx (Debian's package) serves a pre-built 128-event Chat Completions SSE
body to POST on 127.0.0.1, pinned to the first CPU; each client runs pinned to the
second CPU with 64 keep-alive connections, in rounds, side by side:

- wrk, the C limit;
- a bare aiohttp client that only reads each body (the Python ceiling);
- a naive aiohttp client that iterates the body line by line;
- `loadtest run`, the whole engine: every event parsed, timestamped and recorded into
  the histograms, results.jsonl and intervals.hlog written as in any run;
- the same with the live dashboard drawn (a terminal-like stdout sent to /dev/null).

Fidelity: the built-in simulator, pinned to the first CPU, serves a model with a fixed
TTFT (100 ms) and fixed inter-token gaps (10 ms, 32 tokens); `loadtest run` (second
CPU) first finds its capacity for this workload (the rate that would keep its core
fully busy, from its CPU use at a probe rate), then runs an open loop at 25, 50 and
75% of it. Reported: measured minus injected TTFT and ITL at P50 and P99; the same for
a raw-socket reference client at the same rate (the simulator's own timing error,
which no client can see past); their difference (what the engine adds); and CPU.

    apt-get install nginx-light wrk          # once
    python scripts/bench_engine.py           # both parts, about 3 minutes
    python scripts/bench_engine.py --part capacity --rounds 5 --json out.json
    git worktree add /tmp/main-before main && \
      python scripts/bench_engine.py --baseline /tmp/main-before   # a change against main
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

EVENTS = 128
CONNECTIONS = 64
REQUEST = b'{"model":"bench","stream":true,"messages":[{"role":"user","content":"hi"}]}'
FIDELITY_TTFT_MS = 100.0
FIDELITY_GAP_MS = 10.0
FIDELITY_TOKENS = 32

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  server {{
    listen 127.0.0.1:{port};
    root {dir}/www;
    default_type text/event-stream;
    # nginx answers POST to a static file with 405; serve the file for it instead.
    location / {{ error_page 405 =200 $uri; }}
  }}
}}
"""

WRK_LUA = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""

PROFILE = """
name = "{name}"
duration = "{duration}s"
warmup = "{warmup}s"
interval = "1s"
[load]
{load}
[timeouts]
ttft = "30s"
total = "60s"
[workload]
input_tokens = 20
output_tokens = {tokens}
ignore_eos = true
[[targets]]
name = "bench"
kind = "openai-compatible"
model = "bench"
base_url = "{base_url}"
"""


def sse_body() -> bytes:
    """128 events as OpenAI sends them: role chunk, content chunks, finish, usage, [DONE]."""
    head = {
        "id": "chatcmpl-bench0000000001",
        "object": "chat.completion.chunk",
        "created": 1763950000,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = head | {
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        }
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    words = [" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog"]
    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": words[i % len(words)]}) for i in range(EVENTS - 4)]
    events.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 20, "completion_tokens": EVENTS - 4, "total_tokens": EVENTS + 16}
    events.append(b"data: " + orjson.dumps(head | {"choices": [], "usage": usage}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    assert len(events) == EVENTS
    return b"".join(events)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: int) -> Callable[[], None]:
    return lambda: os.sched_setaffinity(0, {cpu})


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"bench_engine: nothing listening on 127.0.0.1:{port}")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of PID and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# --- the clients -----------------------------------------------------------------------


async def bare_client(url: str, conns: int, seconds: float, mode: str) -> dict[str, float]:
    """A client with no measurement at all: the Python ceiling ("any") or the naive
    line-by-line loop ("lines")."""
    import aiohttp
    import uvloop  # noqa: F401  (the caller runs us on uvloop)

    n = 0
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as s:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal n
            while time.perf_counter() < end:
                async with s.post(url, data=REQUEST, headers=headers) as r:
                    if mode == "any":
                        async for _ in r.content.iter_any():
                            pass
                    else:
                        async for _ in r.content:
                            pass
                n += 1

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = time.perf_counter() - t0
    return {"req_s": n / elapsed, "cpu": (time.process_time() - c0) / elapsed}


def run_bare(mode: str, url: str, cpu: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "_client", mode, url, str(CONNECTIONS), str(seconds)],
        preexec_fn=pinned(cpu),
        capture_output=True,
        check=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def run_wrk(wrk: str, url: str, cpu: int, seconds: float, tmp: Path) -> dict[str, float]:
    lua = tmp / "post.lua"
    lua.write_text(WRK_LUA.format(body=REQUEST.decode()))
    out = subprocess.run(
        [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "-s", str(lua), url],
        preexec_fn=pinned(cpu),
        capture_output=True,
        check=True,
        text=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("Requests/sec:"))
    return {"req_s": float(line.split()[1]), "cpu": 1.0}


def run_loadtest(
    profile_text: str, cpu: int, tmp: Path, dashboard: bool = False, tree: str | None = None
) -> dict[str, Any]:
    """`loadtest run` on PROFILE_TEXT, pinned to CPU; its summary.json and CPU use. With
    DASHBOARD, the live dashboard is drawn (to a terminal-like stdout sent nowhere). With
    TREE, the loadtest package of that checkout runs instead of this one (--baseline)."""
    path = tmp / "bench-profile.toml"
    path.write_text(profile_text)
    out_dir = tmp / "reports"
    before = set(out_dir.glob("*")) if out_dir.exists() else set()
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "loadtest", "run", str(path), "--out", str(out_dir)]
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    if dashboard:
        env |= {"FORCE_COLOR": "1", "COLUMNS": "160", "LINES": "50"}
    else:
        cmd.append("--quiet")
    proc = subprocess.Popen(
        cmd,
        preexec_fn=pinned(cpu),
        stdout=subprocess.DEVNULL if dashboard else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"bench_engine: loadtest run failed: {err.strip()}")
    (run_dir,) = set(out_dir.glob("*")) - before
    summary = json.loads((run_dir / "summary.json").read_text())
    shutil.rmtree(run_dir)
    return {"summary": summary, "wall_s": time.perf_counter() - t0}


class OpenLoopReference:
    """The lightest client there is (bench_simulator's raw asyncio.Protocol streams, no
    HTTP library), sending at a constant rate over pre-opened keep-alive connections.
    What it measures is the simulator's own timing error: the floor the engine's
    numbers are compared with."""

    running = False  # StreamClient re-sends on its own when this is true; we schedule

    def __init__(self, host: str, port: int, tokens: int, gap_ms: float) -> None:
        from bench_simulator import Bench, Stats

        self._bench = Bench(host, port, tokens, 1000.0 / gap_ms)
        self.stats = Stats()
        self.free: list[Any] = []
        self.window = (0, 0)
        self.late = 0

    def finished(self, c: Any) -> None:
        self._bench.stats = self.stats
        self._bench.window = self.window
        self._bench.finished(c)
        self.free.append(c)

    async def run(self, rate: float, seconds: float, warmup_s: float) -> None:
        from bench_simulator import StreamClient

        loop = asyncio.get_running_loop()
        b = self._bench
        stream_s = FIDELITY_TTFT_MS / 1000 + FIDELITY_TOKENS * FIDELITY_GAP_MS / 1000
        for _ in range(int(rate * stream_s * 1.3) + 8):
            _, proto = await loop.create_connection(
                lambda: StreamClient(b.request, b.gap_ns, self),  # type: ignore[arg-type]
                b.host,
                b.port,
            )
            self.free.append(proto)
        t0 = time.perf_counter_ns()
        self.window = (t0 + int(warmup_s * 1e9), t0 + int((warmup_s + seconds) * 1e9))
        n = int(rate * (warmup_s + seconds))
        for i in range(n):
            due = t0 + int(i * 1e9 / rate)
            delay = (due - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.free:
                self.late += 1
                _, proto = await loop.create_connection(
                    lambda: StreamClient(b.request, b.gap_ns, self),  # type: ignore[arg-type]
                    b.host,
                    b.port,
                )
                self.free.append(proto)
            self.free.pop().send()
        await asyncio.sleep(stream_s + 0.5)


def _pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] if v else float("nan")


async def reference_client(base: str, rate: float, seconds: float) -> dict[str, float]:
    host, port = base.removeprefix("http://").split("/")[0].rsplit(":", 1)
    ref = OpenLoopReference(host, int(port), FIDELITY_TOKENS, FIDELITY_GAP_MS)
    c0 = time.process_time()
    t0 = time.perf_counter()
    await ref.run(rate, seconds, warmup_s=2.0)
    s = ref.stats
    return {
        "ttft_err_p50_ms": _pct(s.ttft_err_us, 50) / 1e3,
        "ttft_err_p99_ms": _pct(s.ttft_err_us, 99) / 1e3,
        "itl_err_p50_ms": _pct(s.gap_err_us, 50) / 1e3,
        "itl_err_p99_ms": _pct(s.gap_err_us, 99) / 1e3,
        "streams": s.streams,
        "errors": s.errors,
        "late": ref.late,
        "cpu": (time.process_time() - c0) / (time.perf_counter() - t0),
    }


def run_reference(base: str, rate: float, seconds: float, cpu: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "_reference", base, str(rate), str(seconds)],
        preexec_fn=pinned(cpu),
        capture_output=True,
        check=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


# --- capacity --------------------------------------------------------------------------


def capacity(args: argparse.Namespace, cpus: tuple[int, int], tmp: Path) -> dict[str, Any]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("bench_engine: nginx not found (apt-get install nginx-light wrk)")
    wrk = shutil.which("wrk")
    www = tmp / "www" / "v1" / "chat"
    www.mkdir(parents=True)
    body = sse_body()
    (www / "completions").write_bytes(body)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp, port=port))
    server = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(tmp)],
        preexec_fn=pinned(cpus[0]),
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/v1"
    url = base + "/chat/completions"
    try:
        wait_for_port(port)
        print(
            f"nginx on CPU {cpus[0]} serving {len(body):,} bytes ({EVENTS} events) at {url}; "
            f"clients on CPU {cpus[1]}, {CONNECTIONS} connections, "
            f"{args.seconds:g} s each, {args.rounds} rounds"
        )
        profile = PROFILE.format(
            name="bench-capacity",
            duration=args.seconds + 2,
            warmup=2,
            load=f'mode = "closed"\nconcurrency = {CONNECTIONS}',
            tokens=EVENTS,
            base_url=base,
        )
        rows: dict[str, list[dict[str, float]]] = {}
        for rnd in range(args.rounds):
            got: dict[str, dict[str, float]] = {}
            if wrk:
                got["wrk"] = run_wrk(wrk, url, cpus[1], args.seconds, tmp)
            got["aiohttp, body only"] = run_bare("any", url, cpus[1], args.seconds)
            got["aiohttp, line by line"] = run_bare("lines", url, cpus[1], args.seconds)
            res = run_loadtest(profile, cpus[1], tmp)
            t = res["summary"]["targets"]["bench"]
            if t["requests"]["failed"]:
                raise SystemExit(f"bench_engine: engine run had errors: {t['errors']}")
            health = res["summary"]["client_health"]
            got["loadtest run"] = {
                "req_s": t["rates"]["requests_per_s"],
                "cpu": health["cpu_percent_max"] / 100,
            }
            dash = run_loadtest(profile, cpus[1], tmp, dashboard=True)["summary"]
            got["loadtest run, dashboard"] = {
                "req_s": dash["targets"]["bench"]["rates"]["requests_per_s"],
                "cpu": dash["client_health"]["cpu_percent_max"] / 100,
            }
            if args.baseline:
                old = run_loadtest(profile, cpus[1], tmp, tree=args.baseline)["summary"]
                got["loadtest run, baseline"] = {
                    "req_s": old["targets"]["bench"]["rates"]["requests_per_s"],
                    "cpu": old["client_health"]["cpu_percent_max"] / 100,
                }
            for k, v in got.items():
                rows.setdefault(k, []).append(v)
            print(
                f"round {rnd + 1}: "
                + ", ".join(f"{k} {v['req_s']:,.0f} req/s" for k, v in got.items()),
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(10)
    med = {k: statistics.median(r["req_s"] for r in v) for k, v in rows.items()}
    engine = med["loadtest run"]
    print(f"\n{'client':<24}{'req/s':>10}{'events/s':>12}{'engine / it':>13}")
    for k, v in med.items():
        print(f"{k:<24}{v:>10,.0f}{v * EVENTS:>12,.0f}{engine / v:>13.3f}")
    return {"rounds": rows, "median_req_s": med}


# --- fidelity --------------------------------------------------------------------------


def _metric(summary: dict[str, Any], metric: str, key: str) -> float:
    return float(summary["targets"]["bench"]["metrics"][metric][key])


def fidelity(args: argparse.Namespace, cpus: tuple[int, int], tmp: Path) -> dict[str, Any]:
    from bench_simulator import CONFIG as SIM_CONFIG  # the same fixed-timing model

    from loadtest.sim.process import Simulator

    rate = 1000.0 / FIDELITY_GAP_MS
    cfg = tmp / "sim.toml"
    cfg.write_text(
        SIM_CONFIG.format(ttft=FIDELITY_TTFT_MS, ttft_p95=FIDELITY_TTFT_MS * 1.0001, rate=rate)
    )
    with Simulator(cfg, seed=1, workers=1) as sim:
        os.sched_setaffinity(sim.pid, {cpus[0]})
        base = sim.base_url + "/v1"
        print(
            f"\nsimulator on CPU {cpus[0]}: TTFT {FIDELITY_TTFT_MS:g} ms, gap "
            f"{FIDELITY_GAP_MS:g} ms, {FIDELITY_TOKENS} tokens; loadtest run on CPU {cpus[1]}"
        )

        def open_loop(name: str, rate: float, tree: str | None = None) -> dict[str, Any]:
            text = PROFILE.format(
                name=name,
                duration=args.fidelity_seconds,
                warmup=3,
                load=f'mode = "open"\nrate = {rate:.1f}\nmax_in_flight = 20000',
                tokens=FIDELITY_TOKENS,
                base_url=base,
            )
            return run_loadtest(text, cpus[1], tmp, tree=tree)

        # Capacity for this workload: the rate at which the client's core would be fully
        # busy, from the CPU it uses at a probe rate (its CPU grows linearly with the rate
        # while it keeps up; a closed loop at saturation would overstate it, since reads
        # then batch several events).
        probe = args.probe_rate

        def probe_capacity(tree: str | None, label: str) -> float:
            res = open_loop("bench-probe", probe, tree)
            per = res["summary"]["client_health"]["per_interval"]
            cpu = statistics.median(h["cpu_percent"] for h in per[1:-1]) / 100
            print(
                f"capacity{label}: at {probe:g} req/s the client's core is {cpu:.0%} busy, so "
                f"it saturates at about {probe / cpu:,.0f} req/s = "
                f"{probe / cpu * FIDELITY_TOKENS:,.0f} events/s (one event per network read)"
            )
            return probe / cpu

        cap = probe_capacity(None, "")
        baseline_cap = probe_capacity(args.baseline, ", baseline") if args.baseline else None
        print(
            "\nmeasured minus injected, ms (engine = loadtest run; ref = raw-socket client at"
            " the same rate, the simulator's own error; added = engine - ref)"
        )
        print(
            f"{'load':>5}{'req/s':>7}{'ev/s':>8} | {'TTFT p50':>8}{'p99':>7}{'ref p99':>8}"
            f"{'added':>7} | {'ITL p50':>8}{'p99':>7}{'ref p99':>8}{'added':>7} | "
            f"{'late':>5}{'CPU':>6}{'refCPU':>7}{'sim':>6} | {'us/event':>8}{'ref':>6}"
        )
        rows = []
        for frac in (0.25, 0.5, 0.75):
            r = cap * frac
            sim_cpu0 = proc_cpu_s(sim.pid)
            res = open_loop(f"bench-fidelity-{int(frac * 100)}", r)
            sim_cpu = (proc_cpu_s(sim.pid) - sim_cpu0) / res["wall_s"]
            ref = run_reference(sim.base_url, r, args.fidelity_seconds - 3, cpus[1])
            s = res["summary"]
            t = s["targets"]["bench"]
            row = {
                "fraction": frac,
                "rate": r,
                "achieved_req_s": t["rates"]["requests_per_s"],
                "ttft_err_p50_ms": _metric(s, "ttft", "p50") - FIDELITY_TTFT_MS,
                "ttft_err_p99_ms": _metric(s, "ttft", "p99") - FIDELITY_TTFT_MS,
                "itl_err_p50_ms": _metric(s, "itl", "p50") - FIDELITY_GAP_MS,
                "itl_err_p99_ms": _metric(s, "itl", "p99") - FIDELITY_GAP_MS,
                "late": t["requests"]["late"],
                "failed": t["requests"]["failed"],
                "client_cpu": statistics.median(
                    h["cpu_percent"] for h in s["client_health"]["per_interval"][1:-1]
                )
                / 100,
                "sim_cpu": sim_cpu,
                "reference": ref,
            }
            # CPU microseconds per event, the engine's and the reference's (every event
            # parsed and recorded, one event per network read).
            events_s = r * FIDELITY_TOKENS
            row["us_per_event"] = row["client_cpu"] * 1e6 / events_s
            row["ref_us_per_event"] = ref["cpu"] * 1e6 / events_s
            row["ttft_added_p99_ms"] = row["ttft_err_p99_ms"] - ref["ttft_err_p99_ms"]
            row["itl_added_p99_ms"] = row["itl_err_p99_ms"] - ref["itl_err_p99_ms"]
            if args.baseline:
                o = open_loop(f"bench-fidelity-{int(frac * 100)}", r, args.baseline)["summary"]
                row["baseline"] = {
                    "ttft_added_p99_ms": _metric(o, "ttft", "p99")
                    - FIDELITY_TTFT_MS
                    - ref["ttft_err_p99_ms"],
                    "itl_added_p99_ms": _metric(o, "itl", "p99")
                    - FIDELITY_GAP_MS
                    - ref["itl_err_p99_ms"],
                    "ttft_err_p50_ms": _metric(o, "ttft", "p50") - FIDELITY_TTFT_MS,
                    "client_cpu": statistics.median(
                        h["cpu_percent"] for h in o["client_health"]["per_interval"][1:-1]
                    )
                    / 100,
                }
            rows.append(row)
            print(
                f"{frac:>5.0%}{row['achieved_req_s']:>7,.0f}"
                f"{row['achieved_req_s'] * FIDELITY_TOKENS:>8,.0f} | "
                f"{row['ttft_err_p50_ms']:>8.2f}{row['ttft_err_p99_ms']:>7.2f}"
                f"{ref['ttft_err_p99_ms']:>8.2f}{row['ttft_added_p99_ms']:>7.2f} | "
                f"{row['itl_err_p50_ms']:>8.2f}{row['itl_err_p99_ms']:>7.2f}"
                f"{ref['itl_err_p99_ms']:>8.2f}{row['itl_added_p99_ms']:>7.2f} | "
                f"{row['late']:>5}{row['client_cpu']:>6.0%}{ref['cpu']:>7.0%}{sim_cpu:>6.0%} | "
                f"{row['us_per_event']:>8.1f}{row['ref_us_per_event']:>6.1f}",
                flush=True,
            )
    if args.baseline:
        print("\nbaseline at the same rates (added = baseline - ref):")
        print(
            f"{'load':>5} | {'TTFT p50':>8}{'added p99':>10} | {'ITL added p99':>14} | {'CPU':>5}"
        )
        for row in rows:
            b = row["baseline"]
            print(
                f"{row['fraction']:>5.0%} | {b['ttft_err_p50_ms']:>8.2f}"
                f"{b['ttft_added_p99_ms']:>10.2f} | {b['itl_added_p99_ms']:>14.2f} | "
                f"{b['client_cpu']:>5.0%}"
            )
    return {"capacity_req_s": cap, "baseline_capacity_req_s": baseline_cap, "rows": rows}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_reference":
        import uvloop

        base, rate, seconds = sys.argv[2:5]
        print(json.dumps(uvloop.run(reference_client(base, float(rate), float(seconds)))))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        import uvloop

        mode, url, conns, seconds = sys.argv[2:6]
        print(json.dumps(uvloop.run(bare_client(url, int(conns), float(seconds), mode))))
        return 0
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--part", choices=("all", "capacity", "fidelity"), default="all")
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run the loadtest package of this checkout (e.g. a git worktree of main) "
        "in every round, side by side",
    )
    ap.add_argument("--rounds", type=int, default=3, help="capacity rounds (default 3)")
    ap.add_argument("--seconds", type=float, default=6.0, help="seconds per capacity run")
    ap.add_argument("--fidelity-seconds", type=int, default=15, help="seconds per fidelity run")
    ap.add_argument(
        "--probe-rate",
        type=float,
        default=300.0,
        help="open-loop rate whose CPU use gives the capacity (default 300 req/s)",
    )
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("bench_engine: needs two CPUs (server and client pinned apart)", file=sys.stderr)
        return 2
    cpus = (cores[0], cores[1])
    os.sched_setaffinity(0, {cpus[0]})  # this script only waits; keep it off the client's CPU
    out: dict[str, Any] = {"cpus": cpus}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.part in ("all", "capacity"):
            out["capacity"] = capacity(args, cpus, tmp)
        if args.part in ("all", "fidelity"):
            out["fidelity"] = fidelity(args, cpus, tmp)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
