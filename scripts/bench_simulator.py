#!/usr/bin/env python3
"""How much streaming load one simulator worker sustains, and how on time its events are.

The simulator runs pinned to CPU 0 with a preset of fixed TTFT and fixed
inter-token gaps (no jitter, no time of day, no limits); this client runs on
CPU 1 with uvloop and a bare asyncio.Protocol (no HTTP library: the client must
stay cheaper than the server it measures). Concurrency rises in steps; each
step reports achieved events/s, the simulator's CPU, and the timing error of
what it sent: measured inter-token gap minus intended gap, and measured TTFT
minus the intended TTFT the simulator announces in its x-sim-ttft-ms header.
The client's own event-loop lag is reported too, so a client-bound step shows.

    python scripts/bench_simulator.py                      # default steps
    python scripts/bench_simulator.py --rate 50 --levels 250,500,1000,1500 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from loadtest.sim.process import Simulator

CONFIG = """
[models.bench]
base = "default"
ttft_median_ms = {ttft}
ttft_p95_ms = {ttft_p95}
prefill_ms_per_1k_tokens = 0
tokens_per_s = {rate}
token_jitter = 0
[models.bench.limits]
rpm = 0
tpm = 0
"""

TOKEN = b'"delta":{"content":'
DONE = b"data: [DONE]"


@dataclass
class Stats:
    """Samples of one measured window."""

    gap_err_us: list[float] = field(default_factory=list)
    ttft_err_us: list[float] = field(default_factory=list)
    events: int = 0
    streams: int = 0
    errors: int = 0


class StreamClient(asyncio.Protocol):
    """One keep-alive connection sending stream requests back to back."""

    def __init__(self, request: bytes, gap_ns: int, bench: Bench) -> None:
        self.request = request
        self.gap_ns = gap_ns
        self.bench = bench
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.in_body = False
        self.tail = b""
        self.times: list[int] = []
        self.sent_ns = 0
        self.ttft_ns = 0
        self.done_seen = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self) -> None:
        self.head.clear()
        self.in_body = False
        self.tail = b""
        self.times = []
        self.done_seen = False
        self.sent_ns = time.perf_counter_ns()
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.head[:end]).lower()
            data = bytes(self.head[end + 4 :])
            if not head.startswith(b"http/1.1 200"):
                self.bench.stats.errors += 1
            i = head.find(b"x-sim-ttft-ms:")
            self.ttft_ns = int(float(head[i + 14 : head.find(b"\r\n", i)]) * 1e6) if i >= 0 else 0
            self.in_body = True
        # Search across the previous read's tail so a split marker is still found once.
        buf = self.tail + data
        start = 0
        cut = len(self.tail)
        while (k := buf.find(TOKEN, start)) >= 0:
            if k + len(TOKEN) > cut:
                self.times.append(now)
            start = k + 1
        if not self.done_seen and buf.find(DONE) >= 0:
            self.done_seen = True
        self.tail = buf[-40:]
        if self.done_seen and buf.endswith(b"0\r\n\r\n"):
            self.bench.finished(self)
            if self.bench.running:
                self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.bench.stats.errors += 1


class Bench:
    """Connections, the measuring window, and the samples."""

    def __init__(self, host: str, port: int, tokens: int, rate: float) -> None:
        self.host, self.port = host, port
        self.gap_ns = int(1e9 / rate)
        body = json.dumps(
            {
                "model": "bench",
                "stream": True,
                "max_tokens": tokens,
                "ignore_eos": True,
                "messages": [{"role": "user", "content": "hi"}],
            }
        ).encode()
        self.request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (host.encode(), port, len(body), body)
        )
        self.conns: list[StreamClient] = []
        self.running = True
        self.window = (0, 0)
        self.stats = Stats()

    async def grow(self, n: int, spread_s: float) -> None:
        loop = asyncio.get_running_loop()
        while len(self.conns) < n:
            _, proto = await loop.create_connection(
                lambda: StreamClient(self.request, self.gap_ns, self), self.host, self.port
            )
            self.conns.append(proto)
            loop.call_later(random.uniform(0, spread_s), proto.send)

    def finished(self, c: StreamClient) -> None:
        lo, hi = self.window
        t = c.times
        if not t:
            return
        s = self.stats
        if lo <= t[0] < hi:
            s.ttft_err_us.append((t[0] - c.sent_ns - c.ttft_ns) / 1e3)
            s.streams += 1
        for a, b in itertools.pairwise(t):
            if lo <= b < hi:
                s.gap_err_us.append((b - a - c.gap_ns) / 1e3)
        s.events += sum(1 for x in t if lo <= x < hi)


async def timer_stats(host: str, port: int) -> dict[str, int]:
    """The simulator's own count of late writes (GET /sim/info)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /sim/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = await reader.read()
    writer.close()
    return dict(json.loads(raw.split(b"\r\n\r\n", 1)[1])["timer"])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(parent: int) -> list[int]:
    kids = Path(f"/proc/{parent}/task/{parent}/children")
    return [parent] + ([int(x) for x in kids.read_text().split()] if kids.exists() else [])


async def lag_probe(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        samples.append((time.perf_counter() - t - 0.005) * 1e6)


async def run(args: argparse.Namespace, host: str, port: int, pid: int) -> list[dict[str, float]]:
    bench = Bench(host, port, args.tokens, args.rate)
    rows = []
    stream_s = args.ttft_ms / 1000 + args.tokens / args.rate
    for level in args.levels:
        await bench.grow(level, spread_s=stream_s)
        await asyncio.sleep(args.warmup_s)
        lags: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(lag_probe(lags, stop))
        bench.stats = Stats()
        timer0 = await timer_stats(host, port)
        cpu0 = sum(cpu_seconds(p) for p in server_pids(pid))
        own0 = time.process_time()
        t0 = time.perf_counter_ns()
        bench.window = (t0, t0 + int(args.step_s * 1e9))
        await asyncio.sleep(args.step_s + stream_s)  # let streams in the window finish
        cpu1 = sum(cpu_seconds(p) for p in server_pids(pid))
        own = (time.process_time() - own0) / (args.step_s + stream_s)
        timer1 = await timer_stats(host, port)
        sent = max(1, timer1["events"] - timer0["events"])
        late = {k: (timer1[k] - timer0[k]) / sent for k in ("late_1ms", "late_2ms", "late_5ms")}
        stop.set()
        await probe
        s = bench.stats
        row = {
            "streams": level,
            "offered_events_s": level * args.tokens / stream_s,
            "events_s": s.events / args.step_s,
            "server_cpu": (cpu1 - cpu0) / (args.step_s + stream_s),
            "gap_err_p50_ms": pct([abs(x) for x in s.gap_err_us], 50) / 1e3,
            "gap_err_p99_ms": pct([abs(x) for x in s.gap_err_us], 99) / 1e3,
            "ttft_err_p50_ms": pct(s.ttft_err_us, 50) / 1e3,
            "ttft_err_p99_ms": pct(s.ttft_err_us, 99) / 1e3,
            "client_lag_p99_ms": pct(lags, 99) / 1e3,
            "client_cpu": own,
            "sim_late_over_1ms": late["late_1ms"],
            "sim_late_over_2ms": late["late_2ms"],
            "errors": s.errors,
        }
        rows.append(row)
        print(
            f"{level:>7} {row['offered_events_s']:>10.0f} {row['events_s']:>10.0f} "
            f"{row['server_cpu'] * 100:>6.0f}% {row['gap_err_p50_ms']:>8.3f} "
            f"{row['gap_err_p99_ms']:>8.3f} {row['ttft_err_p50_ms']:>8.3f} "
            f"{row['ttft_err_p99_ms']:>8.3f} {row['client_lag_p99_ms']:>8.3f} "
            f"{own * 100:>6.0f}% {late['late_1ms'] * 100:>6.2f}% {late['late_2ms'] * 100:>6.2f}% "
            f"{s.errors:>5}",
            flush=True,
        )
    bench.running = False
    for c in bench.conns:
        if c.transport is not None:
            c.transport.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=50.0, help="tokens/s per stream (default 50)")
    ap.add_argument("--tokens", type=int, default=100, help="tokens per stream (default 100)")
    ap.add_argument("--ttft-ms", type=float, default=50.0, help="fixed TTFT (default 50 ms)")
    ap.add_argument(
        "--levels", default="100,250,500,1000,1500,2000", help="concurrent streams per step"
    )
    ap.add_argument("--step-s", type=float, default=5.0, help="measured seconds per step")
    ap.add_argument("--warmup-s", type=float, default=2.0, help="unmeasured seconds per step")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.toml"
        cfg.write_text(
            CONFIG.format(ttft=args.ttft_ms, ttft_p95=args.ttft_ms * 1.0001, rate=args.rate)
        )
        with Simulator(cfg, seed=1) as sim:
            pid = sim.pid
            if len(cores) > 1:
                os.sched_setaffinity(pid, {cores[0]})
                os.sched_setaffinity(0, {cores[1]})
            host, port = sim.base_url.removeprefix("http://").rsplit(":", 1)
            print(
                f"simulator pid {pid} on CPU {cores[0]}, client on CPU {cores[-1]}; "
                f"{args.rate:g} tok/s per stream, {args.tokens} tokens, TTFT {args.ttft_ms:g} ms"
            )
            print(
                f"{'streams':>7} {'offered/s':>10} {'events/s':>10} {'simCPU':>7} "
                f"{'gap p50':>8} {'gap p99':>8} {'ttft p50':>8} {'ttft p99':>8} "
                f"{'cli lag':>8} {'cliCPU':>7} {'>1ms':>7} {'>2ms':>7} {'err':>5}"
            )
            rows = uvloop.run(run(args, host, int(port), pid))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
