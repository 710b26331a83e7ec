"""The simulator as a client measures it: latency presets, faults, limits, time of day, capacity."""

from __future__ import annotations

import asyncio
import gc
import itertools
import statistics
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from simclient import Result, chat, many, quantile, request, write_config

from loadtest.instants import parse_instant
from loadtest.sim.presets import BUILTIN
from loadtest.sim.process import Simulator
from loadtest.sim.text import count_input_tokens

OFF_PEAK = "2026-11-22T03:00:00-05:00"  # a Sunday night in New York: no diurnal multiplier
PRESETS = {p.name: p for p in BUILTIN}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(seed=11, sim_start=OFF_PEAK) as s:
        yield s


@pytest.mark.slow
def test_low_load_ttft_and_token_rate_match_each_preset(sim: Simulator) -> None:
    names = ["gpt-4o-mini", "gpt-4o-nano", "claude-3-5-haiku"]
    n = 400
    bodies = [chat(name, 16) for _ in range(n) for name in names]
    # The client is this test's process, a thousand tests into the suite. There the p95
    # of the TTFTs it measured came out a fifth high in three suites of four (2026-12-03),
    # never alone or after a few hundred tests; the likely cause is the collector
    # rescanning what earlier tests left, so it is frozen here, as loadtest's engine
    # freezes its own (not proven: the failure did not reproduce in a shorter run).
    gc.collect()
    gc.freeze()
    try:
        results = asyncio.run(many(sim.openai_base_url + "/chat/completions", bodies, 150))
    finally:
        gc.unfreeze()
    prompt = count_input_tokens(bodies[0]["messages"])
    for name in names:
        p = PRESETS[name]
        per = p.tokens_per_event
        mine = [r for r, b in zip(results, bodies, strict=True) if b["model"] == name]
        # The first token alone, then the other 15 in events of `per`.
        assert all(r.status == 200 and len(r.token_times) == 1 + -(-15 // per) for r in mine)
        ttfts = [r.ttft for r in mine]
        prefill = p.prefill_ms_per_1k_tokens * prompt / 1e6
        median, p95 = statistics.median(ttfts), quantile(ttfts, 0.95)
        assert median == pytest.approx(p.ttft_median_ms / 1000 + prefill, rel=0.10), name
        assert p95 == pytest.approx(p.ttft_p95_ms / 1000 + prefill, rel=0.10), name
        # The first event carries the first token at the TTFT and the last one the last
        # token: 15 gaps between them, however the tokens are packed.
        tokens = 15 * len(mine)
        seconds = sum(r.token_times[-1] - r.token_times[0] for r in mine)
        assert tokens / seconds == pytest.approx(p.tokens_per_s, rel=0.10), name


def test_same_seed_same_draws_other_seed_other_draws() -> None:
    def ttfts(seed: int) -> list[str]:
        with Simulator(seed=seed, sim_start=OFF_PEAK) as s:
            rs = asyncio.run(
                many(
                    s.openai_base_url + "/chat/completions",
                    [chat("gpt-4o-nano", 1) for _ in range(5)],
                    1,
                )
            )
        return [r.headers["x-sim-ttft-ms"] for r in rs]

    first = ttfts(5)
    assert first == ttfts(5)
    assert first != ttfts(6)


@pytest.mark.slow
def test_faults_appear_at_their_configured_rates(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
[models."gpt-4o-nano".faults]
http_500 = 0.10
stream_error = 0.10
disconnect = 0.05
malformed = 0.10
stall = 0.05
stall_s = 0.4
""",
    )
    n = 600
    with Simulator(cfg, seed=3, sim_start=OFF_PEAK) as s:
        rs = asyncio.run(
            many(
                s.openai_base_url + "/chat/completions",
                [chat("gpt-4o-nano", 12) for _ in range(n)],
                100,
            )
        )
    seen = {"http_500": 0, "stream_error": 0, "disconnect": 0, "malformed": 0, "stall": 0}
    for r in rs:
        if r.status == 500:
            assert orjson.loads(r.body)["error"]["type"] == "server_error"
            kind = "http_500"
        elif r.error.startswith("disconnect"):
            kind = "disconnect"
        elif any(p.startswith(b'{"error"') for _, p in r.events):
            kind = "stream_error"
        elif any(_broken(p) for _, p in r.events):
            kind = "malformed"
        elif max(b - a for a, b in itertools.pairwise(r.token_times)) > 0.35:
            kind = "stall"
        else:
            assert r.status == 200 and len(r.token_times) == 12
            assert "x-sim-fault" not in r.headers
            continue
        # What the client saw is the fault the simulator says it injected.
        assert r.headers.get("x-sim-fault", "").split("@")[0] == kind
        seen[kind] += 1
    expected = {
        "http_500": 0.10,
        "stream_error": 0.10,
        "disconnect": 0.05,
        "malformed": 0.10,
        "stall": 0.05,
    }
    for kind, rate in expected.items():
        # 3.5 binomial standard deviations around the configured rate
        tolerance = 3.5 * (rate * (1 - rate) / n) ** 0.5
        assert seen[kind] / n == pytest.approx(rate, abs=tolerance), (kind, seen)


def _broken(payload: bytes) -> bool:
    if payload == b"[DONE]":
        return False
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        return True
    return False


def test_anthropic_overload_is_529_and_openai_overload_is_503(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[models."*".faults]\noverloaded = 1.0\n')
    with Simulator(cfg, seed=1) as s:
        body = {
            "model": "claude-3-5-haiku",
            "max_tokens": 5,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        (a,) = asyncio.run(many(s.base_url + "/v1/messages", [body], 1))
        (o,) = asyncio.run(
            many(s.openai_base_url + "/chat/completions", [chat("gpt-4o-mini", 5)], 1)
        )
    assert a.status == 529
    assert orjson.loads(a.body) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert o.status == 503
    assert orjson.loads(o.body)["error"]["type"] == "server_error"


def test_fault_window_applies_only_inside_its_time(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
[[models."gpt-4o-nano".faults.windows]]
kind = "http_500"
start_s = 0
duration_s = 2.5
""",
    )
    with Simulator(cfg, seed=1) as s:
        t0 = time.monotonic()
        early = asyncio.run(
            many(
                s.openai_base_url + "/chat/completions",
                [chat("gpt-4o-nano", 1) for _ in range(3)],
                3,
            )
        )
        assert time.monotonic() - t0 < 2.0, "too slow to land inside the window"
        time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
        late = asyncio.run(
            many(
                s.openai_base_url + "/chat/completions",
                [chat("gpt-4o-nano", 1) for _ in range(3)],
                3,
            )
        )
    assert [r.status for r in early] == [500, 500, 500]
    assert [r.status for r in late] == [200, 200, 200]


def test_stall_window_freezes_every_response_until_it_closes(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
[[models."gpt-4o-nano".faults.windows]]
kind = "stall"
start_s = 0
duration_s = 2.0
""",
    )
    with Simulator(cfg, seed=1) as s:
        t0 = time.monotonic()
        rs = asyncio.run(
            many(
                s.openai_base_url + "/chat/completions",
                [chat("gpt-4o-nano", 2) for _ in range(4)],
                4,
            )
        )
        first_token_at = [r.sent_at - t0 + r.ttft for r in rs]
    # Nothing arrives before the window closes ~2 s after the simulator started.
    assert min(first_token_at) > 1.5
    assert all(r.status == 200 and len(r.token_times) == 2 for r in rs)


def test_rate_limit_headers_count_down_refuse_and_reset(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
[models.limited]
base = "gpt-4o-nano"
ttft_median_ms = 5
ttft_p95_ms = 6
[models.limited.limits]
rpm = 30
tpm = 0
[models.limited-claude]
base = "claude-3-5-haiku"
ttft_median_ms = 5
ttft_p95_ms = 6
[models.limited-claude.limits]
rpm = 30
tpm = 0
""",
    )
    with Simulator(cfg, seed=1) as s:

        async def run() -> tuple[list[Result], list[Result], tuple[Result, Result], Result]:
            async with aiohttp.ClientSession() as session:
                url = s.openai_base_url + "/chat/completions"
                body = chat("limited", 1, stream=False)
                oks = [await request(session, url, body) for _ in range(30)]
                refused = await request(session, url, body)
                await asyncio.sleep(int(refused.headers["retry-after-ms"]) / 1000 + 0.05)
                again = await request(session, url, body)
                abody = {
                    "model": "limited-claude",
                    "max_tokens": 1,
                    "messages": [{"role": "user", "content": "hi"}],
                }
                aoks = [
                    await request(session, s.base_url + "/v1/messages", abody) for _ in range(30)
                ]
                arefused = await request(session, s.base_url + "/v1/messages", abody)
                return oks, aoks, (refused, again), arefused

        oks, aoks, (refused, again), arefused = asyncio.run(run())
    remaining = [int(r.headers["x-ratelimit-remaining-requests"]) for r in oks]
    assert remaining == list(range(29, -1, -1))
    assert {r.headers["x-ratelimit-limit-requests"] for r in oks} == {"30"}
    assert refused.status == 429
    err = orjson.loads(refused.body)["error"]
    assert err["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    assert 0 < int(refused.headers["retry-after-ms"]) <= 2100  # one request refills in 2 s
    assert again.status == 200
    aremaining = [int(r.headers["anthropic-ratelimit-requests-remaining"]) for r in aoks]
    assert aremaining == list(range(29, -1, -1))
    assert arefused.status == 429
    assert orjson.loads(arefused.body)["error"]["type"] == "rate_limit_error"
    reset = datetime.fromisoformat(arefused.headers["anthropic-ratelimit-requests-reset"])
    assert reset.tzinfo is not None


@pytest.mark.slow
def test_time_warp_maps_real_time_and_peak_hours_raise_ttft() -> None:
    # 3600x: one simulated hour per real second, from 06:00 on a Monday in New York.
    start = "2026-11-23T06:00:00-05:00"
    warp = 3600.0
    with Simulator(seed=2, time_warp=warp, sim_start=start) as s:

        async def run() -> list[Result]:
            out: list[Result] = []
            t_end = time.monotonic() + 7.5
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=60)) as sess:

                async def worker() -> None:
                    while time.monotonic() < t_end:
                        out.append(
                            await request(
                                sess,
                                s.openai_base_url + "/chat/completions",
                                chat("gpt-4o-mini", 1),
                            )
                        )

                await asyncio.gather(*(worker() for _ in range(60)))
            return out

        rs = asyncio.run(run())
    assert all(r.status == 200 for r in rs)
    # Simulated time advances at the warp rate (allow 50 ms of real time each way).
    first = min(rs, key=lambda r: r.sent_at)
    sim0 = parse_instant(first.headers["x-sim-time"].replace("Z", "+00:00"))
    for r in rs[::25]:
        expected = sim0 + timedelta(seconds=(r.sent_at - first.sent_at) * warp)
        got = parse_instant(r.headers["x-sim-time"].replace("Z", "+00:00"))
        assert abs((got - expected).total_seconds()) < 0.05 * warp
    local = {
        id(r): parse_instant(r.headers["x-sim-time"].replace("Z", "+00:00")).astimezone(
            parse_instant(start).tzinfo
        )
        for r in rs
    }
    off = [r.ttft for r in rs if local[id(r)].hour < 9]
    peak = [r.ttft for r in rs if 9 <= local[id(r)].hour < 17]
    assert len(off) > 150 and len(peak) > 150
    p = PRESETS["gpt-4o-mini"]
    assert p.diurnal is not None
    median_ratio = statistics.median(peak) / statistics.median(off)
    assert median_ratio == pytest.approx(p.diurnal.ttft[10], rel=0.15)
    assert quantile(peak, 0.95) > 2.0 > 1.2 > quantile(off, 0.95)


def test_capacity_model_queues_beyond_the_batch_and_slows_decode(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
[models.tiny-vllm]
base = "vllm-llama-3.1-8b"
ttft_median_ms = 20
ttft_p95_ms = 21
tokens_per_s = 100
token_jitter = 0
[models.tiny-vllm.capacity]
max_streams = 4
slowdown = 0.2
""",
    )
    with Simulator(cfg, seed=1) as s:
        url = s.openai_base_url + "/chat/completions"
        solo = asyncio.run(many(url, [chat("tiny-vllm", 30)], 1))[0]
        crowd = asyncio.run(many(url, [chat("tiny-vllm", 30) for _ in range(8)], 8))
    # Alone: 100 tok/s. With 4 in the batch: 100 / (1 + 0.2 * 3) = 62.5 tok/s.
    assert solo.speed() == pytest.approx(100, rel=0.1)
    ttfts = sorted(r.ttft for r in crowd)
    assert max(ttfts[:4]) < 0.1  # the first four start at once
    first_batch_s = 0.02 + 29 / 62.5
    assert min(ttfts[4:]) > first_batch_s * 0.9  # the rest waited for a slot
    assert statistics.median(r.speed() for r in crowd) == pytest.approx(62.5, rel=0.15)


def test_several_workers_share_one_port_and_one_clock() -> None:
    with Simulator(seed=1, workers=2) as s:

        async def run() -> list[dict[str, Any]]:
            infos = []
            for _ in range(40):  # a new connection each time, so the kernel spreads them
                async with (
                    aiohttp.ClientSession() as sess,
                    sess.get(s.base_url + "/sim/info") as resp,
                ):
                    infos.append(await resp.json())
            return infos

        infos = asyncio.run(run())
    assert {i["worker"] for i in infos} == {0, 1}
    times = sorted(parse_instant(i["sim_time"].replace("Z", "+00:00")) for i in infos)
    assert (times[-1] - times[0]).total_seconds() < 10


def test_anthropic_pings_during_long_gaps(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
ping_interval_s = 0.1
[models.slow-claude]
base = "claude-3-5-haiku"
tokens_per_s = 2
token_jitter = 0
tokens_per_event = 1
""",
    )
    with Simulator(cfg, seed=1, sim_start=OFF_PEAK) as s:
        body = {
            "model": "slow-claude",
            "max_tokens": 3,
            "ignore_eos": True,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        (r,) = asyncio.run(many(s.base_url + "/v1/messages", [body], 1))
    pings = [t for t, p in r.events if p == b'{"type": "ping"}']
    # 2 gaps of 0.5 s with a ping every 0.1 s, plus the one that opens the stream.
    assert 7 <= len(pings) <= 11
    assert len(r.token_times) == 3


PACKING = """
[models.m]
base = "default"
ttft_median_ms = 50
ttft_p95_ms = 50.05
prefill_ms_per_1k_tokens = 0
tokens_per_s = 100
token_jitter = 0
tokens_per_event = {n}
"""

# (path, body) of a 32-token stream in each wire format.
PACKED_BODIES = {
    "chat": ("/v1/chat/completions", chat("m", 32, stream_options={"include_usage": True})),
    "responses": (
        "/v1/responses",
        {"model": "m", "stream": True, "max_output_tokens": 32, "ignore_eos": True, "input": "hi"},
    ),
    "messages": (
        "/v1/messages",
        {
            "model": "m",
            "stream": True,
            "max_tokens": 32,
            "ignore_eos": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
}


def _text_and_usage(api: str, r: Result) -> tuple[list[str], int | None]:
    """The text of each content event, and the output tokens of the usage."""
    texts: list[str] = []
    usage = None
    for _, payload in r.events:
        if payload == b"[DONE]":
            continue
        obj = orjson.loads(payload)
        kind = obj.get("type")
        if api == "chat":
            texts += [c["delta"]["content"] for c in obj["choices"] if c["delta"].get("content")]
            usage = (obj.get("usage") or {}).get("completion_tokens", usage)
        elif kind == "response.output_text.delta" or kind == "content_block_delta":
            texts.append(obj["delta"] if api == "responses" else obj["delta"]["text"])
        elif kind in ("response.completed", "response.incomplete"):
            usage = obj["response"]["usage"]["output_tokens"]
        elif kind == "message_delta":
            usage = obj["usage"]["output_tokens"]
    return texts, usage


def _streams(
    tmp_path: Path, n: int, extra: tuple[tuple[str, dict[str, Any]], ...] = ()
) -> list[Result]:
    cfg = write_config(tmp_path, PACKING.format(n=n))
    bodies = list(PACKED_BODIES.values()) + list(extra)
    with Simulator(cfg, seed=4, sim_start=OFF_PEAK) as s:

        async def run() -> list[Result]:
            async with aiohttp.ClientSession() as session:
                # One at a time and in the same order, so both simulators draw the same text.
                return [await request(session, s.base_url + path, b) for path, b in bodies]

        return asyncio.run(run())


def test_several_tokens_per_event_in_every_wire_format(tmp_path: Path) -> None:
    claude = {
        "model": "claude-3-5-haiku",
        "stream": True,
        "max_tokens": 30,
        "ignore_eos": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    single = _streams(tmp_path, 1)
    packed = _streams(tmp_path, 4, (("/v1/messages", claude),))
    for api, one, four in zip(PACKED_BODIES, single, packed, strict=False):
        assert one.status == four.status == 200, api
        one_texts, one_usage = _text_and_usage(api, one)
        texts, usage = _text_and_usage(api, four)
        assert (len(one_texts), len(texts)) == (32, 9), api
        assert one_usage == usage == 32, api  # the usage counts tokens, not events
        assert "".join(texts) == "".join(one_texts), api  # the same text, in bigger pieces
        # The first token alone, then 4 words of the vocabulary each, the last event 3.
        assert [t.count(" ") for t in texts] == [1, *[4] * 7, 3], api
        assert four.headers["x-sim-output-tokens"] == "32"
        # The first event at the TTFT, then one every 4 inter-token gaps of 10 ms; the
        # last one 3 gaps later, when the last token is ready, as in the unpacked stream:
        # 31 gaps from the first token to the last.
        gaps = [b - a for a, b in itertools.pairwise(four.token_times)]
        assert statistics.median(gaps) == pytest.approx(0.040, abs=0.006), api
        assert statistics.median(b - a for a, b in itertools.pairwise(one.token_times)) < 0.02
        assert four.token_times[-1] - four.token_times[0] == pytest.approx(0.31, abs=0.012), api
        assert one.token_times[-1] - one.token_times[0] == pytest.approx(0.31, abs=0.012), api
        assert four.ttft == pytest.approx(0.050, abs=0.03), api
    # The Anthropic preset packs 3 tokens per text delta by default: 30 tokens are the
    # first alone, nine deltas of 3 and one of 2.
    texts, usage = _text_and_usage("messages", packed[-1])
    assert len(texts) == 11 and usage == 30
    assert [t.count(" ") for t in texts] == [1, *[3] * 9, 2]


def test_bad_requests_get_400_naming_the_field(sim: Simulator) -> None:
    async def run() -> tuple[Result, Result, tuple[int, Any]]:
        async with aiohttp.ClientSession() as sess:
            url = sim.openai_base_url + "/chat/completions"
            bad_messages = await request(sess, url, {"model": "gpt-4o-mini", "messages": "nope"})
            bad_max = await request(sess, url, chat("gpt-4o-mini", 1) | {"max_tokens": -1})
            async with sess.post(url, data=b"{not json") as resp:
                bad_json = (resp.status, await resp.json())
            return bad_messages, bad_max, bad_json

    bad_messages, bad_max, bad_json = asyncio.run(run())
    assert bad_messages.status == 400
    assert orjson.loads(bad_messages.body)["error"]["param"] == "messages"
    assert orjson.loads(bad_max.body)["error"]["param"] == "max_tokens"
    assert bad_json[0] == 400 and bad_json[1]["error"]["type"] == "invalid_request_error"


def test_stop_ends_the_process() -> None:
    s = Simulator(seed=1).start()
    proc = s._proc
    assert proc is not None and proc.poll() is None
    s.stop()
    assert proc.returncode == 0
