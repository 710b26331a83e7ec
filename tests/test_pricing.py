"""What a call costs: the shipped price table, the profile's overrides, the arithmetic
against hand-computed figures, the summary's cost block, and the run's cost ceiling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from enginekit import engine_profile, run_virtual

from loadtest.config_reader import ConfigError
from loadtest.loadspec import Load
from loadtest.pricing import Price, cost_of, price_for, table
from loadtest.profile import Profile, load_profile
from loadtest.summary import summarize


@pytest.mark.parametrize(
    ("model", "per_1k"),
    [
        # 1,000 calls of 500 input and 200 output tokens, by hand:
        ("gpt-4o-mini", 0.195),  # 500 x 0.15 + 200 x 0.60 = 195 per million calls' worth
        ("gpt-4o-nano", 0.100),  # 500 x 0.08 + 200 x 0.30 (the article's estimate)
        ("claude-3-5-haiku", 1.200),  # 500 x 0.80 + 200 x 4.00
        ("gpt-4o-mini-2024-07-18", 0.195),  # a dated name finds its row
    ],
)
def test_cost_per_1000_calls_from_the_table(model: str, per_1k: float) -> None:
    price = price_for(model, None, None)
    assert price is not None and price.since and price.source
    assert 1000 * price.cost(500, 200) == pytest.approx(per_1k)


def test_every_row_is_dated_and_sourced_and_the_profile_overrides_it() -> None:
    assert all(p.since and p.source and p.input > 0 and p.output > 0 for p in table().values())
    assert price_for("no-such-model", None, None) is None
    own = price_for("gpt-4o-mini", 1.0, 2.0)
    assert own is not None and (own.input, own.output, own.source) == (1.0, 2.0, "the profile")
    half = price_for("gpt-4o-mini", 1.0, None)
    assert half is not None and (half.input, half.output) == (1.0, 0.60)
    assert price_for("unknown", 1.0, None) is None  # half a price is no price


def test_the_cost_block_per_call_success_and_success_within_the_slo() -> None:
    price = Price(0.15, 0.60, source="test")
    c = cost_of(price, input_tokens=50_000, output_tokens=20_000, calls=120, done=100, good=80)
    assert c["usd"] == pytest.approx(0.0195)
    assert c["per_1k_calls"] == pytest.approx(1000 * 0.0195 / 120)
    assert c["per_success"] == pytest.approx(0.000195)
    assert c["per_success_within_slo"] == pytest.approx(0.0195 / 80)
    nothing = cost_of(price, 0, 0, calls=5, done=0, good=None)
    assert nothing["per_success"] is None and "per_success_within_slo" not in nothing


def _priced(load: Load, duration_s: float, max_cost: float) -> Profile:
    p = engine_profile(load, duration_s=duration_s, max_cost=max_cost)
    targets = tuple(dataclasses.replace(t, input_price=0.0, output_price=1000.0) for t in p.targets)
    return dataclasses.replace(p, targets=targets)


def test_the_run_stops_at_its_cost_ceiling() -> None:
    # 8 output tokens a call at $1,000 per million: $0.008 a call; a $0.05 ceiling is
    # reached by the 7th completed call (0.056), one stream, 0.1 s a call.
    profile = _priced(Load(concurrency=1), duration_s=60.0, max_cost=0.05)
    result, _, _, ended = run_virtual(profile, lambda t, i: 0.1)
    assert result.stopped_by.startswith("cost ceiling ($0.0560 of $0.05)")
    assert result.targets["a"].sent == 7 and ended < 1.0
    t = summarize(result, profile)["targets"]["a"]
    assert t["cost"]["usd"] == pytest.approx(0.056) and t["cost"]["per_success"] == 0.008


def test_a_ceiling_needs_a_price_for_every_target(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'max_cost = 1.5\n[[targets]]\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "sim"\n'
        '[[targets]]\nname = "own"\nkind = "openai-compatible"\nmodel = "llama"\n'
        'base_url = "http://127.0.0.1:9/v1"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert "max_cost: expected a price for every target" in str(err.value)
    assert "none for own" in str(err.value)
    path.write_text(path.read_text() + "input_price = 0.1\noutput_price = 0.2\n")
    p = load_profile(path)
    assert p.max_cost == 1.5 and p.targets[0].price_source.startswith("https://openai.com")


def test_cached_input_is_priced_apart_and_batch_is_stated() -> None:
    price = price_for("gpt-4o-mini", None, None)
    assert price is not None and price.cached_input == 0.075 and price.batch_discount == 0.5
    # 1,000 prompt tokens of which 400 from the cache, 200 out, by hand:
    # 600 x 0.15 + 400 x 0.075 + 200 x 0.60 = 240 per million
    assert price.cost(1000, 200, 400) == pytest.approx(240e-6)
    c = cost_of(price, 1000, 200, 1, 1, None, cached_tokens=400)
    assert c["usd"] == pytest.approx(0.00024) and c.get("cached_input_tokens") == 400
    assert c.get("batch_per_1k_calls") == pytest.approx(0.12)  # half of $0.24 per 1,000
    # a price without a cached figure prices every input token alike
    assert Price(1.0, 2.0).cost(1000, 0, 400) == pytest.approx(1000e-6)


@pytest.mark.parametrize(
    ("kind", "events"),
    [
        (
            "openai",
            [
                b'{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}',
                b'{"choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":1,'
                b'"prompt_tokens_details":{"cached_tokens":400}}}',
                b"[DONE]",
            ],
        ),
        (
            "openai-responses",
            [
                b'{"type":"response.output_text.delta","delta":"hi"}',
                b'{"type":"response.completed","response":{"usage":{"input_tokens":1000,'
                b'"output_tokens":1,"input_tokens_details":{"cached_tokens":400}}}}',
            ],
        ),
        (
            "anthropic",
            [  # Anthropic counts the cache reads apart: 600 + 400 prompt tokens in all
                b'{"type":"message_start","message":{"usage":{"input_tokens":600,'
                b'"cache_read_input_tokens":400,"output_tokens":1}}}',
                b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}',
                b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}',
                b'{"type":"message_stop"}',
            ],
        ),
    ],
)
def test_each_reader_takes_the_cached_share_of_the_prompt(kind: str, events: list[bytes]) -> None:
    from loadtest.providers import PARSERS
    from loadtest.providers.reading import Reading
    from loadtest.sse import Event

    r = Reading()
    PARSERS[kind]([Event(b"message", e, b"") for e in events], r)
    assert r.error is None and r.complete
    assert (r.usage_input_tokens, r.usage_cached_tokens) == (1000, 400)


def test_the_sdk_readers_take_the_cached_share_too() -> None:
    from anthropic.types import RawMessageStartEvent
    from openai.types.chat import ChatCompletionChunk

    from loadtest.providers.reading import Reading
    from loadtest.sdk_client import _read_anthropic, _read_chat

    chunk = ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [],
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 1,
                "total_tokens": 1001,
                "prompt_tokens_details": {"cached_tokens": 400},
            },
        }
    )
    r = Reading()
    _read_chat(chunk, r)
    assert (r.usage_input_tokens, r.usage_cached_tokens) == (1000, 400)
    start = RawMessageStartEvent.model_validate(
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "claude-3-5-haiku",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 600, "output_tokens": 1, "cache_read_input_tokens": 400},
            },
        }
    )
    r = Reading()
    _read_anthropic(start, r)
    assert (r.usage_input_tokens, r.usage_cached_tokens) == (1000, 400)
