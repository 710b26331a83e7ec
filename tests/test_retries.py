"""Retries and fallback: the policy as profiles state it, the backoff's waits (the
server's retry-after-ms and retry-after honoured, measured at a real server), fallback
during an injected outage and not outside it, a missed first-token deadline, and cost
counting every attempt."""

from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from refuser import Refuser
from rich.console import Console

from loadtest.backoff import retry_delay_s
from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.records import RequestRecord, TargetCounts
from loadtest.retry_policy import RETRIED_BY_DEFAULT
from loadtest.runner import run
from loadtest.summary_quality import billed_usd, retries_of


def _profile(tmp: Path, targets: str, head: str = "", sim: str = "") -> Path:
    p = tmp / "p.toml"
    cfg = ""
    if sim:
        (tmp / "sim.toml").write_text(sim)
        cfg = f'config = "{tmp / "sim.toml"}"\n'
    p.write_text(
        f'out = "{tmp / "out"}"\nseed = 3\nwarmup = "0s"\n{head}\n'
        f"[workload]\ninput_tokens = 20\noutput_tokens = 8\n\n[simulator]\nseed = 1\n{cfg}\n"
        + targets
    )
    return p


MINI = '[[targets]]\nname = "mini"\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "sim"\n'
HAIKU = (
    '[[targets]]\nname = "haiku"\nkind = "anthropic"\nmodel = "claude-3-5-haiku"\n'
    'base_url = "sim"\n'
)


def test_a_policy_reads_with_its_defaults(tmp_path: Path) -> None:
    p = load_profile(
        _profile(
            tmp_path,
            MINI + 'retry = { attempts = 3, on = ["http_429", "invalid_json"] }\n'
            'fallback = ["haiku"]\nfallback_after = "1500ms"\n' + HAIKU,
        )
    )
    mini, haiku = p.targets
    assert (mini.retry.attempts, mini.retry.on, mini.retry.fallback) == (
        3,
        ("http_429", "invalid_json"),
        ("haiku",),
    )
    assert mini.retry.fallback_after_s == 1.5 and mini.retry.backoff_s == 0.25
    assert mini.retry.active and not haiku.retry.active
    assert load_profile(_profile(tmp_path, MINI + "retry = {}\n")).targets[0].retry.on == (
        RETRIED_BY_DEFAULT
    )


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ('retry = { on = ["http_418"] }', "targets[0].retry.on: expected names among"),
        ("retry = { attempts = 0 }", "targets[0].retry.attempts"),
        ("retry = { tries = 2 }", "tries"),
        ('fallback = ["nobody"]', "target mini: fallback: expected names of other targets"),
        ('fallback = ["mini"]', "target mini: fallback"),
        ('fallback_after = "1s"', "fallback_after: expected a fallback list beside it"),
    ],
)
def test_policy_mistakes_are_one_line(tmp_path: Path, keys: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_profile(_profile(tmp_path, MINI + keys + "\n" + HAIKU))
    assert says in str(err.value) and "\n" not in str(err.value)


def _rec(headers: dict[str, str]) -> RequestRecord:
    r = RequestRecord("a", 0)
    r.ratelimit = headers
    return r


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "350", "retry-after": "1"}, 0.35),  # the finer one wins
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "900"}, 60.0),  # capped
    ],
)
def test_the_server_says_how_long(headers: dict[str, str], wait: float) -> None:
    assert retry_delay_s(_rec(headers), 1, random.Random(1), 0.1, 5.0) == pytest.approx(wait)


def test_without_a_header_the_wait_is_full_jitter_under_a_doubling_bound() -> None:
    rng = random.Random(7)
    for failures, bound in ((1, 0.2), (2, 0.4), (3, 0.8), (9, 3.0)):
        waits = [retry_delay_s(_rec({"retry-after": "soon"}), failures, rng, 0.2, 3.0)]
        waits += [retry_delay_s(_rec({}), failures, rng, 0.2, 3.0) for _ in range(300)]
        assert all(0 <= w <= bound for w in waits)
        assert max(waits) > 0.8 * bound and min(waits) < 0.2 * bound  # spread, not fixed


class Flaky(Refuser):
    """Every odd request gets a 429 with retry-after-ms; every even one a short stream.
    Arrival times are kept (perf_counter)."""

    def __init__(self, wait_ms: int) -> None:
        super().__init__(429, {"retry-after-ms": str(wait_ms), "retry-after": "9"})
        self.arrivals: list[tuple[float, int]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        self.count += 1
        await request.read()
        if self.count % 2:
            self.arrivals.append((time.perf_counter(), 429))
            return await self._handle_refusal()
        self.arrivals.append((time.perf_counter(), 200))
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in (
            {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ):
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def _handle_refusal(self) -> web.Response:
        return web.json_response(
            {"error": {"message": "slow down"}}, status=429, headers=self.headers
        )


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_429_is_retried_after_the_servers_retry_after_ms(tmp_path: Path) -> None:
    with Flaky(wait_ms=300) as server:
        p = tmp_path / "p.toml"
        p.write_text(
            f'out = "{tmp_path}"\nwarmup = "0s"\nduration = "20s"\nrequests = 4\n'
            "[load]\nmode = 'closed'\nconcurrency = 1\n"
            "[[targets]]\nname = 'a'\nkind = 'openai-compatible'\nmodel = 'm'\n"
            f"base_url = '{server.url}'\nretry = {{ attempts = 2, on = ['http_429'] }}\n"
        )
        run_dir, summary = run(load_profile(p), Console(quiet=True), live=False, quiet=True)
        arrivals = list(server.arrivals)
    t = summary["targets"]["a"]
    assert t["requests"]["completed"] == 4 and t["requests"]["failed"] == 0
    assert t.get("retries", {}).get("per_request") == 2.0
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals) if a[1] == 429]
    assert len(gaps) >= 4
    # The header said 300 ms (not retry-after's 9 s): each retry waited that, and no more
    # than the loop's and the connection's slack.
    assert all(0.3 <= g < 0.3 + 0.2 for g in gaps), gaps
    measured = [x for x in _lines(run_dir) if x["measured"]]
    assert all(x["attempts"] == 2 and x["ttft"] >= 300 for x in measured)


OUTAGE = """
[[models."gpt-4o-mini".faults.windows]]
kind = "http_500"
start_s = 3
duration_s = 2
rate = 1.0
"""


@pytest.mark.slow
def test_fallback_engages_during_an_outage_and_not_outside_it(tmp_path: Path) -> None:
    targets = (
        MINI
        + "retry = { attempts = 2, backoff = '20ms' }\nfallback = ['haiku']\n"
        + HAIKU
        + "load = { mode = 'open', rate = 1 }\n"
    )
    p = _profile(tmp_path, targets, 'duration = "7s"\n[load]\nmode = "open"\nrate = 10\n', OUTAGE)
    run_dir, summary = run(load_profile(p), Console(quiet=True), live=False, quiet=True)
    lines = [x for x in _lines(run_dir) if x.get("target") == "mini" and x.get("sent_ms")]
    served = [x for x in lines if x.get("served_by") == "haiku"]
    own = [x for x in lines if "served_by" not in x]
    # The simulator's window is 3 s to 5 s after its start, the run begins a little
    # later: everything a fallback served was meant for the window, and nothing else was.
    assert len(served) >= 10 and all(x["attempts"] == 3 and not x["error"] for x in served)
    assert all(1.5e3 <= x["intended_ms"] <= 5e3 for x in served)
    assert own and all(x["attempts"] == 1 for x in own if not 2e3 <= x["intended_ms"] <= 5e3)
    r = summary["targets"]["mini"].get("retries")
    assert r is not None and r["served_by"]["haiku"] == len(served)
    # the requests a fallback served failed at their first attempt; the others did not
    first = r.get("first_attempt_success_rate")
    assert first == pytest.approx((len(lines) - len(served)) / len(lines), abs=1e-6)
    assert summary["targets"]["mini"]["requests"]["failed"] == 0


STALL = """
[[models."gpt-4o-mini".faults.windows]]
kind = "stall"
start_s = 0
duration_s = 60
rate = 1.0
"""


@pytest.mark.slow
def test_no_first_token_by_the_deadline_goes_to_the_fallback(tmp_path: Path) -> None:
    targets = MINI + "fallback = ['haiku']\nfallback_after = '600ms'\n" + HAIKU
    head = 'duration = "10s"\nrequests = 3\n[load]\nmode = "closed"\nconcurrency = 1\n'
    p = _profile(tmp_path, targets, head, STALL)
    run_dir, summary = run(load_profile(p), Console(quiet=True), live=False, quiet=True)
    mini = [x for x in _lines(run_dir) if x["target"] == "mini" and x["measured"]]
    assert len(mini) == 3
    for x in mini:  # stalled at mini past the deadline, served by haiku: TTFT counts both
        assert x["served_by"] == "haiku" and x["attempts"] == 2 and not x["error"]
        assert x["ttft"] >= 600
    assert summary["targets"]["mini"].get("retries", {}).get("fallback_share") == 1.0


def test_cost_counts_every_attempt_at_its_targets_price(tmp_path: Path) -> None:
    p = load_profile(_profile(tmp_path, MINI + "fallback = ['haiku']\n" + HAIKU))
    # 3 attempts at mini (two answers broke their JSON, billed all the same), 1 at haiku:
    # mini 3 x (500 in, 200 out) at 0.15 / 0.60, haiku 500 in, 200 out at 0.80 / 4.00
    billed = {"mini": [1500, 600], "haiku": [500, 200]}
    by_hand = (1500 * 0.15 + 600 * 0.60 + 500 * 0.80 + 200 * 4.00) / 1e6
    assert billed_usd(p, billed) == pytest.approx(by_hand)
    c = TargetCounts(completed=1, attempts=4, billed=billed)
    c.served["haiku"] += 1
    r = retries_of(c, None)
    assert (r["per_request"], r["served_by"], r["fallback_share"]) == (4.0, {"haiku": 1}, 1.0)
