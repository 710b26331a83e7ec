"""Tables of cases for the simulator's pure pieces: config, clock, limits, faults, plans."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from loadtest.cli import main
from loadtest.config_reader import ConfigError
from loadtest.instants import format_instant
from loadtest.sim import answers, wire_anthropic, wire_chat, wire_responses
from loadtest.sim.behaviour import Behaviour, Situation, lost_rate, odds
from loadtest.sim.capacity import Capacity, CapacityGate
from loadtest.sim.config import load_config
from loadtest.sim.faults import FaultChoice, Faults, FaultWindow, choose
from loadtest.sim.plan import Plan, gap_params, make_plan, sample_ttft_s
from loadtest.sim.presets import BUILTIN, Z95, Preset, builtin_table
from loadtest.sim.ratelimit import (
    BucketState,
    Limits,
    RateLimiter,
    anthropic_headers,
    go_duration,
    openai_headers,
)
from loadtest.sim.requests import BadRequest, SimRequest, ToolSpec, parse
from loadtest.sim.scripted import Answer
from loadtest.sim.stream import COMPLETE, CUT, DROPPED, StreamJob
from loadtest.sim.timeofday import NEUTRAL, Diurnal, SimClock, business_hours, conditions_at
from loadtest.sim.wire_chat import ChatEncoder
from loadtest.validators import (
    INVALID_JSON,
    NO_TOOL_CALL,
    OK,
    REFUSAL,
    WRONG_ARGUMENTS,
    WRONG_TOOL,
    judge_extraction,
)

PRESETS = {p.name: p for p in BUILTIN}

# --- configuration -------------------------------------------------------------------------

BAD_CONFIGS = [
    (
        '[models."gpt-4o-mini"]\nttft_medain_ms = 3\n',
        "models.gpt-4o-mini.ttft_medain_ms: unknown key",
    ),
    (
        '[models."gpt-4o-mini"]\nttft_p95_ms = 100\n',
        "models.gpt-4o-mini.ttft_p95_ms: expected a value above",
    ),
    (
        '[models."gpt-4o-mini"]\ntokens_per_s = "fast"\n',
        "models.gpt-4o-mini.tokens_per_s: expected a number",
    ),
    (
        '[models."gpt-4o-mini"]\ntokens_per_s = 0\n',
        "models.gpt-4o-mini.tokens_per_s: expected a number > 0",
    ),
    (
        '[models."claude-3-5-haiku"]\ntokens_per_event = 0\n',
        "models.claude-3-5-haiku.tokens_per_event: expected an integer >= 1, got 0",
    ),
    (
        '[models.x]\ntokens_per_event = "four"\n',
        "models.x.tokens_per_event: expected an integer",
    ),
    ("[models.x]\ntokens_per_event = 2.5\n", "models.x.tokens_per_event: expected an integer"),
    (
        '[models.x.diurnal]\ntz = "Mars/Olympus"\n',
        "models.x.diurnal.tz: expected an IANA time zone",
    ),
    (
        "[models.x.diurnal]\nttft = [1.0, 2.0]\n",
        "models.x.diurnal.ttft: expected an array of 24 numbers",
    ),
    (
        "[models.x.faults]\nhttp_500 = 0.7\nstall = 0.5\n",
        "models.x.faults: expected fault rates that add up",
    ),
    (
        '[[models.x.faults.windows]]\nkind = "meteor"\n',
        "models.x.faults.windows[0].kind: expected one of",
    ),
    ('[models.x]\nbase = "nope"\n', "models.x.base: expected the name of a built-in preset"),
    (
        '[[models.x.incidents]]\nstart = "tuesday"\n',
        "models.x.incidents[0].start: expected an ISO 8601 instant",
    ),
    ('[[models.x.incidents]]\nduration = "1h"\n', "models.x.incidents[0].start: expected"),
    (
        "[[models.x.incidents]]\nstart = 2026-11-20T14:00:00Z\nttft = 0\n",
        "models.x.incidents[0].ttft: expected a number > 0",
    ),
    ("[models.x]\nincidents = 3\n", "models.x.incidents: expected an array of tables"),
    ('[clock]\nsim_start = "yesterday"\n', "clock.sim_start: expected an ISO 8601 instant"),
    ("seed = 1.5\n", "seed: expected an integer"),
    ("this is not toml\n", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text_of = str(info.value)
    assert "\n" not in text_of
    assert text_of.startswith(f"{path}: ")
    assert message in text_of


def test_missing_config_file_and_bad_flags(tmp_path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="--time-warp: expected a number > 0"):
        load_config(time_warp=0)
    with pytest.raises(ConfigError, match="--sim-start: not an ISO 8601 instant"):
        load_config(sim_start="soon")


def test_cli_prints_one_error_line_and_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[models.x]\nnonsense = 1\n")
    assert main(["mock", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("loadtest: error: ") and "nonsense" in err


def test_config_overrides_new_models_and_star(tmp_path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text("""
seed = 9
[clock]
time_warp = 60
sim_start = "2026-01-05T09:00:00-05:00"
[models."*".faults]
http_500 = 0.02
[models."gpt-4o-mini"]
ttft_median_ms = 500
ttft_p95_ms = 1000
[models.mine]
base = "gpt-4o-mini"
aliases = ["my-alias"]
[models.mine.diurnal]
peak_hours = [8, 12]
peak_ttft = 2.0
[models.flat]
base = "gpt-4o-mini"
[models.flat.diurnal]
enabled = false
""")
    cfg = load_config(path, seed=3)
    assert cfg.seed == 3 and cfg.time_warp == 60
    assert cfg.sim_start == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    table = cfg.table()
    mini = table.lookup("gpt-4o-mini")
    assert mini is not None and mini.ttft_median_ms == 500
    assert mini.aliases == PRESETS["gpt-4o-mini"].aliases
    mine = table.lookup("my-alias")
    assert mine is not None and mine.name == "mine"
    assert mine.ttft_median_ms == 500 and mine.limits == PRESETS["gpt-4o-mini"].limits
    assert mine.diurnal is not None and mine.diurnal.ttft[8:12] == (2.0,) * 4
    builtin_diurnal = PRESETS["gpt-4o-mini"].diurnal
    assert builtin_diurnal is not None
    assert mine.diurnal.ttft[12] == 1.0 and mine.diurnal.tail == builtin_diurnal.tail
    flat = table.lookup("flat")
    assert flat is not None and flat.diurnal is None
    assert all(p.faults.http_500 == 0.02 for p in cfg.presets)


def test_an_incident_multiplies_the_diurnal_conditions_for_its_hour_only(tmp_path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text("""
[[models."gpt-4o-mini".incidents]]
start = "2026-11-20T14:00:00-05:00"
duration = "1h"
ttft = 3.0
tail = 1.5
[[models."gpt-4o-mini".incidents]]
start = 2026-11-21T02:00:00Z
ttft = 2.0
""")
    mini = load_config(path).table().lookup("gpt-4o-mini")
    assert mini is not None and len(mini.incidents) == 2
    first, second = mini.incidents
    assert first.start == datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
    assert (first.end - first.start).total_seconds() == 3600  # duration, and its default
    assert (second.end - second.start).total_seconds() == 3600
    peak = mini.diurnal.conditions(first.start) if mini.diurnal else NEUTRAL
    assert peak.ttft == 1.4  # a weekday's 14:00 in New York: the preset's own peak
    inside = conditions_at(mini.diurnal, mini.incidents, first.start)
    assert inside.ttft == pytest.approx(1.4 * 3.0) and inside.tail == pytest.approx(1.8 * 1.5)
    before = conditions_at(mini.diurnal, mini.incidents, first.start - timedelta(seconds=1))
    assert before == peak
    at_end = conditions_at(mini.diurnal, mini.incidents, first.end)
    assert at_end.ttft == 1.4  # [start, end)
    night = conditions_at(mini.diurnal, mini.incidents, second.start)
    assert night.ttft == 2.0 and night.tail == 1.0  # Friday 21:00 in New York: off-peak


def test_tokens_per_event_defaults_and_overrides(tmp_path) -> None:
    # Anthropic's presets pack several tokens per event; OpenAI's and the rest send one.
    assert {p.name: p.tokens_per_event for p in BUILTIN if p.tokens_per_event != 1} == {
        "claude-3-5-haiku": 3
    }
    path = tmp_path / "sim.toml"
    path.write_text("""
[models."gpt-4o-nano"]
tokens_per_event = 4
[models.my-claude]
base = "claude-3-5-haiku"
[models.flat-claude]
base = "claude-3-5-haiku"
tokens_per_event = 1
""")
    table = load_config(path).table()
    packing = {n: table.presets[n].tokens_per_event for n in ("gpt-4o-nano", "gpt-4o-mini")}
    assert packing == {"gpt-4o-nano": 4, "gpt-4o-mini": 1}
    assert table.presets["my-claude"].tokens_per_event == 3  # inherited from its base
    assert table.presets["flat-claude"].tokens_per_event == 1


def test_example_config_in_the_repository_loads() -> None:
    cfg = load_config("profiles/simulator/example.toml")
    assert cfg.table().lookup("Qwen/Qwen2.5-7B-Instruct") is not None


# --- presets and the clock -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-nano-2025-01-01", "gpt-4o-nano"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-haiku-3-5", "claude-3-5-haiku"),
        ("meta-llama/Llama-3.1-8B-Instruct", "vllm-llama-3.1-8b"),
        ("unknown", None),
    ],
)
def test_preset_lookup(name: str, expected: str | None) -> None:
    found = builtin_table().lookup(name)
    assert (found.name if found else None) == expected


def test_unknown_model_falls_back_unless_strict() -> None:
    t = builtin_table()
    fallback = t.resolve("mystery", strict=False)
    assert fallback is not None and fallback.name == "default"
    assert t.resolve("mystery", strict=True) is None


@pytest.mark.parametrize("preset", BUILTIN, ids=lambda p: p.name)
def test_lognormal_fit_puts_p95_where_configured(preset) -> None:
    mu = math.log(preset.ttft_median_ms)
    assert math.exp(mu + Z95 * preset.ttft_sigma) == pytest.approx(preset.ttft_p95_ms, rel=1e-9)


def test_sim_clock_warp_round_trip() -> None:
    start = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    clock = SimClock(1000.0, start, 1440.0)
    assert clock.at(1060.0) == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # a real minute = a day
    assert clock.wall_for(clock.at(1234.5)) == pytest.approx(1234.5)
    assert format_instant(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.678Z"
    )


@pytest.mark.parametrize(
    ("utc", "peak"),
    [
        ("2026-11-23T15:00:00+00:00", True),  # Monday 10:00 New York (EST, UTC-5)
        ("2026-11-23T13:00:00+00:00", False),  # 08:00
        ("2026-11-23T22:00:00+00:00", False),  # 17:00: the window is [9, 17)
        ("2026-11-28T15:00:00+00:00", False),  # Saturday 10:00
        ("2026-03-09T13:30:00+00:00", True),  # Monday after DST began: 09:30 EDT (UTC-4)
        ("2026-03-06T13:30:00+00:00", False),  # Friday before: 08:30 EST
        ("2026-11-02T14:30:00+00:00", True),  # Monday after DST ended: 09:30 EST
        ("2026-10-30T13:30:00+00:00", True),  # Friday before: 09:30 EDT
    ],
)
def test_diurnal_peak_follows_local_time_and_weekdays(utc: str, peak: bool) -> None:
    d = Diurnal(ttft=business_hours(1.4), tail=business_hours(1.8))
    c = d.conditions(datetime.fromisoformat(utc))
    assert (c.ttft, c.tail) == ((1.4, 1.8) if peak else (1.0, 1.0))


# --- rate limits ---------------------------------------------------------------------------


def _remaining(state: BucketState | None) -> int:
    assert state is not None
    return state.remaining


def test_bucket_counts_down_refuses_and_refills() -> None:
    lim = RateLimiter(Limits(rpm=6, tpm=0), now_s=0.0)
    remaining = [_remaining(lim.admit(10, 0.0).requests) for _ in range(6)]
    assert remaining == [5, 4, 3, 2, 1, 0]
    refused = lim.admit(10, 0.0)
    assert not refused.allowed and refused.limited_by == "requests"
    assert refused.retry_after_s == pytest.approx(10.0)  # 6/min refills one every 10 s
    assert not lim.admit(10, 9.9).allowed
    assert lim.admit(10, 10.0).allowed
    assert _remaining(lim.admit(10, 70.0).requests) == 5  # full again after a minute


def test_token_bucket_charges_tokens() -> None:
    lim = RateLimiter(Limits(rpm=0, tpm=1000), now_s=0.0)
    assert _remaining(lim.admit(600, 0.0).tokens) == 400
    refused = lim.admit(600, 0.0)
    assert not refused.allowed and refused.limited_by == "tokens"
    assert refused.retry_after_s == pytest.approx(200 / (1000 / 60))


def test_provider_headers() -> None:
    lim = RateLimiter(Limits(rpm=2, tpm=0), now_s=0.0)
    lim.admit(1, 0.0)
    lim.admit(1, 0.0)
    refused = lim.admit(1, 0.0)
    h = openai_headers(refused)
    assert h["x-ratelimit-limit-requests"] == "2" and h["x-ratelimit-remaining-requests"] == "0"
    assert h["x-ratelimit-reset-requests"] == "1m0s" and h["retry-after"] == "30"
    a = anthropic_headers(refused, now_wall_s=0.0)
    assert a["anthropic-ratelimit-requests-remaining"] == "0"
    assert a["anthropic-ratelimit-requests-reset"] == "1970-01-01T00:01:00Z"
    assert "x-ratelimit-limit-tokens" not in h  # no token limit configured


@pytest.mark.parametrize(
    ("s", "text"), [(0.02, "20ms"), (1.5, "1.5s"), (360, "6m0s"), (90.25, "1m30.25s"), (0, "0ms")]
)
def test_go_duration(s: float, text: str) -> None:
    assert go_duration(s) == text


# --- faults --------------------------------------------------------------------------------


def test_fault_kinds_appear_at_their_rates_and_nowhere_else() -> None:
    faults = Faults(http_500=0.05, stall=0.10, disconnect=0.02)
    rng = random.Random(7)
    n = 40_000
    picks = [choose(faults, rng, 0.0, 50) for _ in range(n)]
    counts: dict[str, int] = {}
    for p in picks:
        if p is not None:
            counts[p.kind] = counts.get(p.kind, 0) + 1
            if p.kind != "http_500":
                assert p.at_token is not None and 1 <= p.at_token < 50
    assert set(counts) == {"http_500", "stall", "disconnect"}
    for kind, rate in (("http_500", 0.05), ("stall", 0.10), ("disconnect", 0.02)):
        assert counts[kind] / n == pytest.approx(rate, rel=0.1)


def test_fault_window_bounds_and_freeze() -> None:
    faults = Faults(windows=(FaultWindow("http_500", 10.0, 5.0), FaultWindow("stall", 20.0, 4.0)))
    rng = random.Random(1)
    assert choose(faults, rng, 9.99, 10) is None
    assert choose(faults, rng, 10.0, 10) == FaultChoice("http_500")
    assert choose(faults, rng, 15.0, 10) is None
    freeze = choose(faults, rng, 21.5, 10)
    assert freeze == FaultChoice("stall", 0, pytest.approx(2.5))  # type: ignore[arg-type]


# --- plans ---------------------------------------------------------------------------------


def _req(**kw: Any) -> SimRequest:
    base: dict[str, Any] = {
        "api": "chat",
        "model": "m",
        "stream": True,
        "max_tokens": 100,
        "input_tokens": 10,
    }
    return SimRequest(**(base | kw))


def test_ttft_draws_match_the_preset_and_the_peak() -> None:
    p = PRESETS["gpt-4o-mini"]
    rng = random.Random(3)
    off = sorted(sample_ttft_s(p, NEUTRAL, 0, rng) for _ in range(20_000))
    assert statistics.median(off) == pytest.approx(0.380, rel=0.03)
    assert off[int(0.95 * len(off))] == pytest.approx(0.900, rel=0.05)
    assert p.diurnal is not None
    peak = p.diurnal.conditions(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    hot = sorted(sample_ttft_s(p, peak, 0, rng) for _ in range(20_000))
    assert 2.0 < hot[int(0.95 * len(hot))] < 3.0


def test_gap_mean_holds_the_token_rate() -> None:
    p = PRESETS["claude-3-5-haiku"]
    mu, sigma = gap_params(p, NEUTRAL)
    rng = random.Random(4)
    gaps = [rng.lognormvariate(mu, sigma) for _ in range(50_000)]
    assert statistics.fmean(gaps) == pytest.approx(1 / p.tokens_per_s, rel=0.02)


def test_plans_are_deterministic_and_respect_limits() -> None:
    p = PRESETS["gpt-4o-nano"]
    a = make_plan(p, _req(), NEUTRAL, random.Random(5), "x")
    assert a == make_plan(p, _req(), NEUTRAL, random.Random(5), "x")
    assert a != make_plan(p, _req(), NEUTRAL, random.Random(6), "x")
    exact = make_plan(p, _req(ignore_eos=True, max_tokens=33), NEUTRAL, random.Random(5), "x")
    assert exact.output_tokens == 33 and exact.finish == "length"
    capped = [make_plan(p, _req(max_tokens=50), NEUTRAL, random.Random(i), "x") for i in range(200)]
    assert all(c.output_tokens <= 50 for c in capped)
    assert {c.finish for c in capped} == {"stop", "length"}


def test_tool_plans_carry_the_arguments_as_fragments() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    req = _req(tools=(ToolSpec("get_weather", schema),), tool_choice="required")
    plan = make_plan(PRESETS["gpt-4o-mini"], req, NEUTRAL, random.Random(1), "x")
    assert plan.tool is not None and plan.tool.name == "get_weather"
    assert "".join(plan.content) == plan.tool.arguments and plan.finish == "tool_calls"
    never = make_plan(
        PRESETS["gpt-4o-mini"],
        _req(tools=req.tools, tool_choice="none"),
        NEUTRAL,
        random.Random(1),
        "x",
    )
    assert never.tool is None


def _packed(preset_name: str, n: int) -> Preset:
    return dataclasses.replace(PRESETS[preset_name], tokens_per_event=n)


@pytest.mark.parametrize(
    ("tokens", "sizes"),
    [(32, [1, *[4] * 7, 3]), (30, [1, *[4] * 7, 1]), (5, [1, 4]), (3, [1, 2]), (1, [1])],
)
def test_packed_plans_send_the_first_token_alone_then_groups(tokens: int, sizes: list[int]) -> None:
    req = _req(ignore_eos=True, max_tokens=tokens)
    one = make_plan(_packed("gpt-4o-nano", 1), req, NEUTRAL, random.Random(8), "x")
    four = make_plan(_packed("gpt-4o-nano", 4), req, NEUTRAL, random.Random(8), "x")
    assert four.output_tokens == one.output_tokens == tokens  # the usage counts tokens
    assert list(four.event_tokens()) == sizes
    assert (one.events, four.events, len(four.content_events)) == (tokens, len(sizes), len(sizes))
    assert one.event_tokens() == (1,) * tokens
    assert "".join(four.content_events) == "".join(one.content_events) == "".join(one.content)
    # Each event carries its tokens' text: every token is a word with its leading space.
    assert [e.count(" ") for e in four.content_events] == sizes
    # The last event goes with the last token: a gap for every token after the first,
    # however packed, so the whole (non-streamed) response takes as long as the stream.
    assert one.gap_tokens == four.gap_tokens == tokens - 1


def test_packing_keeps_reasoning_and_content_apart_and_packs_tool_arguments() -> None:
    plan = Plan(
        0.5, 0.5, ("r0", "r1", "r2", "r3", "r4"), tuple(f"c{i}" for i in range(6)), "stop", 5
    )
    packed = dataclasses.replace(plan, tokens_per_event=4)
    # The first reasoning token alone; the content in groups of 4 from its own start.
    assert packed.reasoning_events == ("r0", "r1r2r3r4")
    assert packed.content_events == ("c0c1c2c3", "c4c5")
    assert packed.event_tokens() == (1, 4, 4, 2) and packed.events == 4
    assert packed.output_tokens == plan.output_tokens == 11 and packed.gap_tokens == 10
    lone = Plan(0.5, 0.5, ("r0",), ("c0", "c1", "c2", "c3", "c4"), "stop", 5, tokens_per_event=4)
    assert lone.reasoning_events == ("r0",) and lone.content_events == ("c0c1c2c3", "c4")
    assert lone.event_tokens() == (1, 4, 1) and lone.events == 3
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    req = _req(tools=(ToolSpec("get_weather", schema),), tool_choice="required")
    tool = make_plan(_packed("claude-3-5-haiku", 3), req, NEUTRAL, random.Random(1), "x")
    assert tool.tool is not None and "".join(tool.content_events) == tool.tool.arguments
    assert len(tool.content) > 4 and tool.content_events[0] == tool.content[0]
    assert len(tool.content_events) == 1 + math.ceil((len(tool.content) - 1) / 3)


# --- capacity gate -------------------------------------------------------------------------


def test_capacity_gate_is_fifo_and_cancellation_safe() -> None:
    async def run() -> list[str]:
        gate = CapacityGate(Capacity(max_streams=2, slowdown=0.5))
        order: list[str] = []
        await gate.acquire()
        await gate.acquire()
        assert gate.gap_factor() == 1.5

        async def wait(name: str) -> None:
            await gate.acquire()
            order.append(name)

        first = asyncio.create_task(wait("first"))
        gone = asyncio.create_task(wait("gone"))
        second = asyncio.create_task(wait("second"))
        await asyncio.sleep(0)
        assert gate.queued == 3
        gone.cancel()
        await asyncio.sleep(0)
        gate.release()
        gate.release()
        await asyncio.gather(first, second)
        assert gate.active == 2 and gate.queued == 0
        gate.release()
        gate.release()
        assert gate.active == 0
        return order

    assert asyncio.run(run()) == ["first", "second"]


# --- the stream driver ---------------------------------------------------------------------


class FakeWriter:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _drive(plan: Plan, sigma: float = 0.0) -> tuple[FakeWriter, list[int], str]:
    async def run() -> tuple[FakeWriter, list[int], str]:
        w = FakeWriter()
        done = asyncio.get_running_loop().create_future()
        enc = ChatEncoder(plan, "m", "id1", 0, include_usage=False)
        job = StreamJob(
            w, True, enc, plan, (math.log(0.01), sigma), random.Random(1), None, 0, 10.0, done
        )
        deadlines = []
        due: int | None = job.first_due_ns()
        while due is not None:
            deadlines.append(due)
            due = job.step(due, due)
        return w, deadlines, done.result()

    return asyncio.run(run())


def _plan(n: int, fault: FaultChoice | None = None) -> Plan:
    return Plan(0.5, 0.5, (), tuple(f" t{i}" for i in range(n)), "stop", 5, fault=fault)


def _payloads(w: FakeWriter) -> list[bytes]:
    out = []
    for frame in w.writes:
        size, rest = frame.split(b"\r\n", 1)
        assert int(size, 16) == len(rest) - 2 and rest.endswith(b"\r\n")  # chunked framing
        out.append(rest[:-2])
    return out


def test_stream_sends_preamble_then_tokens_on_schedule_then_finish() -> None:
    w, deadlines, how = _drive(_plan(4))
    assert how == COMPLETE
    assert deadlines == [500_000_000 + i * 10_000_000 for i in range(4)]
    body = b"".join(_payloads(w))
    assert body.index(b'"role":"assistant"') < body.index(b" t0") < body.index(b" t3")
    assert body.endswith(b"data: [DONE]\n\n")


def test_stream_error_fault_cuts_the_stream() -> None:
    w, deadlines, how = _drive(_plan(6, FaultChoice("stream_error", 3)))
    assert how == CUT and len(deadlines) == 4
    last = _payloads(w)[-1]
    assert last.startswith(b'data: {"error"') and b"[DONE]" not in b"".join(_payloads(w))


def test_disconnect_fault_closes_the_socket() -> None:
    w, deadlines, how = _drive(_plan(6, FaultChoice("disconnect", 2)))
    assert how == DROPPED and w.closed and len(deadlines) == 3


def test_stall_fault_delays_one_token_only() -> None:
    _, deadlines, how = _drive(_plan(6, FaultChoice("stall", 3, 2.0)))
    assert how == COMPLETE
    gaps = [b - a for a, b in itertools.pairwise(deadlines)]
    assert gaps == [10_000_000, 10_000_000, 2_010_000_000, 10_000_000, 10_000_000]


def test_malformed_fault_inserts_a_broken_event_and_goes_on() -> None:
    w, _, how = _drive(_plan(5, FaultChoice("malformed", 2)))
    assert how == COMPLETE
    body = b"".join(_payloads(w))
    assert b'"content":"broken\n\n' in body and body.endswith(b"data: [DONE]\n\n")


def _tokens_plan(n: int, per_event: int, reasoning: int = 0) -> Plan:
    return Plan(
        0.5,
        0.5,
        tuple(f" r{i}" for i in range(reasoning)),
        tuple(f" t{i}" for i in range(n)),
        "stop",
        5,
        tokens_per_event=per_event,
    )


def test_packed_stream_sends_each_event_when_its_last_token_is_ready() -> None:
    w, deadlines, how = _drive(_tokens_plan(32, 4))
    assert how == COMPLETE
    # The first token alone at the TTFT, then an event every 4 gaps of 10 ms; the last
    # one carries 3 tokens and comes 3 gaps later, when the 32nd token is ready.
    ms = 1_000_000
    assert deadlines == [500 * ms + k * 10 * ms for k in [*range(0, 32, 4), 31]]
    # A client's TPOT, (last - first) / (tokens - 1), is the 10 ms gap.
    assert (deadlines[-1] - deadlines[0]) / 31 == 10 * ms
    chunks = [p for p in b"".join(_payloads(w)).split(b"\n\n") if b'"content":" t' in p]
    assert len(chunks) == 9 and b'"content":" t0"' in chunks[0]
    assert b'"content":" t1 t2 t3 t4"' in chunks[1]
    assert b'"content":" t29 t30 t31"' in chunks[-1]
    # Reasoning: its first token alone, then 4; the content in groups of 4 from its start.
    _, deadlines, _ = _drive(_tokens_plan(6, 4, reasoning=5))
    assert [b - a for a, b in itertools.pairwise(deadlines)] == [40 * ms, 40 * ms, 20 * ms]


def test_packed_events_land_on_the_instants_of_single_tokens_for_a_seed() -> None:
    # With jitter, the same seed draws the same token gaps: packing only groups them, so
    # each event is due when its last token was, and the stream ends at the same time.
    _, single, _ = _drive(_tokens_plan(32, 1), sigma=0.3)
    _, packed, _ = _drive(_tokens_plan(32, 4), sigma=0.3)
    assert len({b - a for a, b in itertools.pairwise(single)}) > 1  # jitter: gaps differ
    assert packed == [*single[::4], single[31]]
    _, short, _ = _drive(_tokens_plan(30, 4), sigma=0.3)  # 1, seven of 4, then one of 1
    _, single30, _ = _drive(_tokens_plan(30, 1), sigma=0.3)
    assert short == [*single30[::4], single30[29]]
    for reasoning, content in ((5, 6), (1, 9), (6, 1)):
        plan = _tokens_plan(content, 4, reasoning)
        _, one, _ = _drive(_tokens_plan(content, 1, reasoning), sigma=0.3)
        _, four, _ = _drive(plan, sigma=0.3)
        last_tokens = [k - 1 for k in itertools.accumulate(plan.event_tokens())]
        assert four == [one[k] for k in last_tokens] and four[-1] == one[-1]


# --- agent behaviour: odds, answers, config, conversations ------------------------------


def test_odds_carry_the_articles_numbers_and_sum_to_one() -> None:
    mini, haiku = PRESETS["gpt-4o-mini"].agent, PRESETS["claude-3-5-haiku"].agent
    assert mini is not None and haiku is not None
    clear = dict(odds(mini, Situation()))
    assert clear[WRONG_TOOL] + clear[NO_TOOL_CALL] == pytest.approx(1 - 0.91)
    assert dict(odds(haiku, Situation()))[WRONG_TOOL] == pytest.approx(0.06 * 0.75)
    assert dict(odds(mini, Situation(overlap=True)))[WRONG_TOOL] == pytest.approx(0.5)
    assert dict(odds(haiku, Situation(underspecified=True)))[REFUSAL] == pytest.approx(0.9)
    assert dict(odds(mini, Situation(json_can_break=False)))[INVALID_JSON] == 0
    assert dict(odds(mini, Situation(failable=False)))[WRONG_ARGUMENTS] == 0
    assert dict(odds(mini, Situation(alone=True)))[WRONG_TOOL] == 0
    for b in (mini, haiku, Behaviour()):
        for s in (Situation(), Situation(extraction=True, nested=True), Situation(step=7)):
            table = odds(b, s)
            assert sum(p for _, p in table) == pytest.approx(1) and min(p for _, p in table) >= 0
    assert dict(odds(Behaviour(), Situation()))[OK] == 1


def test_depth_failure_starts_past_the_presets_depth() -> None:
    depth = {n: PRESETS[n].agent for n in ("gpt-4o-nano", "gpt-4o-mini", "claude-3-5-haiku")}
    held = {n: max(k for k in range(1, 9) if lost_rate(b, k) == 0) for n, b in depth.items() if b}
    assert held == {"gpt-4o-nano": 2, "gpt-4o-mini": 4, "claude-3-5-haiku": 6}
    nano = depth["gpt-4o-nano"]
    assert nano is not None
    assert [lost_rate(nano, k) for k in range(1, 6)] == pytest.approx([0, 0, 0.25, 0.5, 0.75])


_STRING = {"type": "string"}
_CHECKS = [
    ({"equals": "ana@example.com"}, _STRING),
    ({"equals": "orders"}, {"type": "string", "enum": ["orders", "invoices"]}),
    ({"equals": None}, {"type": ["string", "null"], "description": "ISO date"}),
    ({"contains": "Oslo"}, _STRING),
    ({"close_to": [4739.72, 0.01]}, {"type": "number"}),
    ({"one_of": ["low", "high"]}, {"type": "string", "enum": ["low", "normal", "high"]}),
    ({"from_prompt": True}, _STRING),
    ({"absent": True}, _STRING),
]
_PROMPT = "Tell ana@example.com the forecast for Oslo: orders total 4,739.72 USD."


@pytest.mark.parametrize(("check", "spec"), _CHECKS)
def test_good_values_pass_their_check_and_broken_ones_fail_it(
    check: dict[str, Any], spec: dict[str, Any]
) -> None:
    schema = {"type": "object", "properties": {"x": spec}, "additionalProperties": False}
    rng = random.Random(3)
    good = answers.good_arguments(schema, {"x": check}, _PROMPT, rng)
    assert judge_extraction(schema, {"x": check}, orjson.dumps(good).decode(), _PROMPT) == OK
    assert answers.failable(schema, {"x": check})
    bad = answers.wrong_arguments(good, schema, {"x": check}, _PROMPT, rng)
    judged = judge_extraction(schema, {"x": check}, orjson.dumps(bad).decode(), _PROMPT)
    assert judged == WRONG_ARGUMENTS  # schema-valid: a schema violation is judged first


def test_agent_table_and_task_files_in_the_config(tmp_path) -> None:
    (tmp_path / "more.jsonl").write_text(
        '{"id": "m1", "messages": [{"role": "user", "content": "hi"}], "schema": {}}\n'
    )
    cfg_path = tmp_path / "sim.toml"
    cfg_path.write_text(
        'tasks = ["more.jsonl"]\n[models."gpt-4o-mini".agent]\ntool_accuracy = 0.5\n'
        '[models.x.agent]\ndepth = 3\n[models."claude-3-5-haiku".agent]\nenabled = false\n'
    )
    cfg = load_config(cfg_path)
    by = {p.name: p for p in cfg.presets}
    mini = by["gpt-4o-mini"].agent
    assert mini is not None and mini.tool_accuracy == 0.5 and mini.overlap_accuracy == 0.5
    assert by["x"].agent == Behaviour(depth=3) and by["claude-3-5-haiku"].agent is None
    assert by["vllm-llama-3.1-8b"].agent is None  # as today: random tool calls
    assert cfg.task_files == (str(tmp_path / "more.jsonl"),)
    cfg_path.write_text("[models.x.agent]\ntool_acuracy = 0.5\n")
    with pytest.raises(ConfigError, match=r"models\.x\.agent\.tool_acuracy: unknown key"):
        load_config(cfg_path)
    cfg_path.write_text('tasks = ["missing.jsonl"]\n')
    with pytest.raises(ConfigError, match=r"missing\.jsonl"):
        load_config(cfg_path)


def test_agents_example_config_loads() -> None:
    cfg = load_config("profiles/simulator/agents.toml")
    by = {p.name: p for p in cfg.presets}
    assert by["deepseek-reasoner"].agent is None
    assert by["vllm-llama-3.1-8b"].agent == Behaviour(tool_accuracy=0.97)


@pytest.mark.parametrize(
    ("api", "body", "prompt", "results"),
    [
        (
            "chat",
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Go."}]},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "a",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            },
                        ],
                    },
                    {"role": "tool", "tool_call_id": "a", "content": '{"v": 1}'},
                ],
            },
            "Go.",
            ('{"v": 1}',),
        ),
        (
            "responses",
            {
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "Go."}]},
                    {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "a", "output": "1"},
                ]
            },
            "Go.",
            ("1",),
        ),
        (
            "messages",
            {
                "max_tokens": 10,
                "messages": [
                    {"role": "user", "content": "Go."},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "text", "text": "ok"},
                            {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [{"type": "text", "text": "2"}],
                            }
                        ],
                    },
                ],
            },
            "Go.",
            ("2",),
        ),
    ],
)
def test_conversations_give_their_prompt_and_tool_results(
    api: str, body: dict[str, Any], prompt: str, results: tuple[str, ...]
) -> None:
    req = parse(api, orjson.dumps({"model": "m", **body}))
    assert (req.prompt, req.tool_results) == (prompt, results)


@pytest.mark.parametrize(
    ("api", "extra", "param"),
    [
        ("chat", {"response_format": {"type": "xml"}}, "response_format.type"),
        ("chat", {"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            "responses",
            {"text": {"format": {"type": "json_schema", "name": "e"}}},
            "text.format.schema",
        ),
        (
            "messages",
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": []}],
                    },
                ]
            },
            "messages.1.content.0.input",
        ),
        (
            "messages",
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                    },
                    {"role": "user", "content": "and?"},
                ]
            },
            "messages.2",
        ),
    ],
)
def test_bad_formats_and_tool_turns_name_the_field(
    api: str, extra: dict[str, Any], param: str
) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    if api == "responses":
        body = {"model": "m", "input": "x"}
    with pytest.raises(BadRequest) as info:
        parse(api, orjson.dumps(body | extra))
    assert info.value.param == param


def test_a_lead_before_a_tool_call_is_a_segment_of_its_own() -> None:
    answer = Answer((" I", " will", " call"), "f", '{"city": "Oslo"}')
    plan = make_plan(_packed("claude-3-5-haiku", 2), _req(), NEUTRAL, random.Random(2), "x", answer)
    assert plan.lead == answer.text and "".join(plan.content) == answer.arguments
    assert plan.lead_events == (" I", " will call") and plan.finish == "tool_calls"
    sizes = plan.event_tokens()
    assert sizes[:2] == (1, 2) and sum(sizes) == plan.output_tokens == 3 + len(plan.content)
    whole = orjson.loads(wire_anthropic.body(plan, "m", "x"))
    assert [b["type"] for b in whole["content"]] == ["text", "tool_use"]
    chat = orjson.loads(wire_chat.body(plan, "m", "x", 0))["choices"][0]["message"]
    assert chat["content"] == " I will call" and chat["tool_calls"][0]["function"]["name"] == "f"
    out = orjson.loads(wire_responses.body(plan, "m", "x", 0))["output"]
    assert [i["type"] for i in out] == ["message", "function_call"]
