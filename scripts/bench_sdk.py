#!/usr/bin/env python3
"""The raw client against `client = "sdk"`, side by side on one simulator target. Run by
hand; quote the medians.

The built-in simulator (pinned to the first CPU) serves a model with a fixed TTFT
(100 ms) and fixed gaps (10 ms, 32 tokens); `loadtest run` (second CPU) drives it in an
open loop, once with the raw path (aiohttp and loadtest's SSE parser) and once through
the official SDK (openai.AsyncOpenAI, or anthropic.AsyncAnthropic with --kind
anthropic), in alternating rounds. Reported per mode: measured minus injected TTFT and
ITL at P50 and P99, and the client's CPU per request (from its own per-interval CPU
reading, over the measured window).

    python scripts/bench_sdk.py                       # about 2 minutes
    python scripts/bench_sdk.py --kind anthropic --rate 40 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import run_loadtest
from bench_simulator import CONFIG

TTFT_MS, GAP_MS, TOKENS = 100.0, 10.0, 32
PROFILE = """
name = "bench-sdk"
duration = "{seconds}s"
warmup = "2s"
interval = "1s"
[load]
mode = "open"
rate = {rate}
[timeouts]
ttft = "30s"
[workload]
input_tokens = 20
output_tokens = {tokens}
ignore_eos = true
[[targets]]
name = "bench"
kind = "{kind}"
model = "bench"
base_url = "{base_url}"
client = "{client}"
"""


def one(
    kind: str, client: str, base: str, rate: float, seconds: int, tmp: Path
) -> dict[str, float]:
    text = PROFILE.format(
        seconds=seconds, rate=rate, tokens=TOKENS, kind=kind, base_url=base, client=client
    )
    s: dict[str, Any] = run_loadtest(text, 1, tmp)["summary"]
    t = s["targets"]["bench"]
    m = t["metrics"]
    # CPU seconds of the measured window: each interval's reading, over its length
    cpu_s = sum(iv["cpu_percent"] / 100 * 1.0 for iv in s["client_health"]["per_interval"])
    done = t["requests"]["completed"]
    return {
        "ttft_p50": m["ttft"]["p50"] - TTFT_MS,
        "ttft_p99": m["ttft"]["p99"] - TTFT_MS,
        "itl_p50": m["itl"]["p50"] - GAP_MS,
        "itl_p99": m["itl"]["p99"] - GAP_MS,
        "cpu_us_per_request": 1e6 * cpu_s / max(1, done + t["requests"].get("warmup", 0)),
        "completed": done,
        "failed": t["requests"]["failed"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--kind", default="openai-compatible", choices=["openai-compatible", "anthropic"]
    )
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from loadtest.sim.process import Simulator

    # The simulator takes any key; Anthropic targets need one set (never a real one here).
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-loadtest-sim")

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = tmp / "sim.toml"
        cfg.write_text(CONFIG.format(ttft=TTFT_MS, ttft_p95=TTFT_MS * 1.0001, rate=1000 / GAP_MS))
        with Simulator(cfg, seed=1, workers=1) as sim:
            os.sched_setaffinity(sim.pid, {0})
            base = sim.base_url + ("" if args.kind == "anthropic" else "/v1")
            rows: dict[str, list[dict[str, float]]] = {"raw": [], "sdk": []}
            for r in range(args.rounds):
                for client in ("raw", "sdk"):
                    res = one(args.kind, client, base, args.rate, args.seconds, tmp)
                    rows[client].append(res)
                    print(
                        f"round {r + 1} {client}: "
                        + ", ".join(f"{k} {v:.2f}" for k, v in res.items())
                    )
    print(f"\n{args.kind} at {args.rate:g} req/s, {TOKENS} tokens, medians of {args.rounds} rounds")
    print("client  TTFT err p50/p99 ms  ITL err p50/p99 ms  CPU us/request")
    med = {c: {k: statistics.median(x[k] for x in v) for k in v[0]} for c, v in rows.items()}
    for c, m in med.items():
        print(
            f"{c:6}  {m['ttft_p50']:8.2f} / {m['ttft_p99']:6.2f}  {m['itl_p50']:8.2f} / "
            f"{m['itl_p99']:6.2f}  {m['cpu_us_per_request']:10.0f}"
        )
    ratio = med["sdk"]["cpu_us_per_request"] / med["raw"]["cpu_us_per_request"]
    print(f"sdk / raw CPU per request: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
