"""Prompts and request building per target kind, and a live round trip through the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson
import pytest

from loadtest.config_reader import ConfigError
from loadtest.profile import Lengths, Target, Workload
from loadtest.providers import PARSERS
from loadtest.providers.build import SIM_KEY, builder
from loadtest.providers.reading import Reading
from loadtest.sim.process import Simulator
from loadtest.sim.text import count_input_tokens
from loadtest.sse import SSEParser
from loadtest.workload import Prompt, PromptSource


def _t(kind: str, base_url: str = "sim", **kw: object) -> Target:
    key_env = "ANTHROPIC_API_KEY" if kind == "anthropic" else "OPENAI_API_KEY"
    return Target(kw.pop("name", kind), kind, "m", base_url, key_env, **kw)  # type: ignore[arg-type]


def test_prompts_are_deterministic_per_index_and_sized() -> None:
    w = Workload(input_tokens=Lengths(mean=500), output_tokens=Lengths("uniform", 100, 20, 50, 150))
    a, b = PromptSource(w, seed=1), PromptSource(w, seed=1)
    assert a.prompt(7) == b.prompt(7) and a.prompt(7) != a.prompt(8)
    assert PromptSource(w, seed=2).prompt(7) != a.prompt(7)
    p = a.prompt(3)
    assert count_input_tokens(p.messages) == pytest.approx(500, rel=0.05)
    assert 50 <= p.max_tokens <= 150
    firsts = {a.prompt(i).messages[0]["content"][:30] for i in range(50)}
    assert len(firsts) > 45  # prompts open differently: no shared cache prefix


def test_prompts_file_forms_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text('{"messages": [{"role": "user", "content": "a"}]}\n\n{"prompt": "b"}\n')
    src = PromptSource(Workload(prompts_file=str(f)), seed=0)
    assert [src.prompt(i).messages[0]["content"] for i in range(3)] == ["a", "b", "a"]
    f.write_text('{"prompt": "ok"}\n{"oops": 1}\n')
    with pytest.raises(ConfigError, match=r"p.jsonl:2: expected"):
        PromptSource(Workload(prompts_file=str(f)), seed=0)
    with pytest.raises(ConfigError, match="cannot read prompts file"):
        PromptSource(Workload(prompts_file=str(tmp_path / "nope.jsonl")), seed=0)


PROMPT = Prompt(({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}), 42)


def test_openai_chat_request() -> None:
    b = builder(
        _t("openai", "https://api.example/v1/"),
        Workload(temperature=0.0),
        "https://api.example/v1/",
        env={"OPENAI_API_KEY": "sk-secret"},
    )
    body = orjson.loads(b.body(PROMPT))
    assert b.url == "https://api.example/v1/chat/completions"
    assert b.headers["authorization"] == "Bearer sk-secret"
    assert body == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.0,
        "messages": list(PROMPT.messages),
        "max_completion_tokens": 42,
    }


def test_compatible_gets_max_tokens_and_ignore_eos_only_when_asked() -> None:
    t = _t("openai-compatible", "http://127.0.0.1:8000/v1")
    plain = orjson.loads(
        builder(t, Workload(), t.base_url, env={"OPENAI_API_KEY": "k"}).body(PROMPT)
    )
    exact = orjson.loads(
        builder(t, Workload(ignore_eos=True), t.base_url, env={"OPENAI_API_KEY": "k"}).body(PROMPT)
    )
    assert plain["max_tokens"] == 42 and "ignore_eos" not in plain
    assert exact["ignore_eos"] is True
    hosted = _t("openai", "https://api.openai.com/v1")
    assert "ignore_eos" not in orjson.loads(
        builder(
            hosted, Workload(ignore_eos=True), hosted.base_url, env={"OPENAI_API_KEY": "k"}
        ).body(PROMPT)
    )


def test_anthropic_and_responses_requests() -> None:
    a = builder(
        _t("anthropic", "https://api.anthropic.com"),
        Workload(),
        "https://api.anthropic.com",
        env={"ANTHROPIC_API_KEY": "ak"},
    )
    body = orjson.loads(a.body(PROMPT))
    assert a.url == "https://api.anthropic.com/v1/messages"
    assert a.headers["x-api-key"] == "ak" and "authorization" not in a.headers
    assert body["system"] == "be brief" and body["messages"] == [PROMPT.messages[1]]
    assert body["max_tokens"] == 42 and "stream_options" not in body
    r = builder(
        _t("openai-responses", "https://x/v1"),
        Workload(),
        "https://x/v1",
        env={"OPENAI_API_KEY": "k"},
    )
    rb = orjson.loads(r.body(PROMPT))
    assert r.url == "https://x/v1/responses"
    assert rb["instructions"] == "be brief" and rb["max_output_tokens"] == 42
    assert "stream_options" not in rb and "messages" not in rb


def test_headers_and_params_from_the_profile_win() -> None:
    t = _t(
        "openai",
        "https://x/v1",
        headers=(("x-team", "perf"),),
        params=(("top_p", 0.5), ("stream_options", None)),
    )
    b = builder(t, Workload(), t.base_url, env={"OPENAI_API_KEY": "k"})
    body = orjson.loads(b.body(PROMPT))
    assert b.headers["x-team"] == "perf" and body["top_p"] == 0.5 and body["stream_options"] is None


def test_missing_key_names_the_variable_not_a_value() -> None:
    with pytest.raises(ConfigError) as info:
        builder(_t("openai", "https://x/v1"), Workload(), "https://x/v1", env={})
    assert "OPENAI_API_KEY is not set" in str(info.value)
    sim = builder(_t("openai"), Workload(), "http://127.0.0.1:1", env={})
    assert sim.headers["authorization"] == f"Bearer {SIM_KEY}"


def test_local_server_without_a_key_gets_no_authorization_and_usage_can_be_off() -> None:
    t = _t("openai-compatible", "http://127.0.0.1:8000/v1", api_key_required=False)
    b = builder(t, Workload(), t.base_url, env={})
    assert "authorization" not in b.headers
    assert orjson.loads(b.body(PROMPT))["stream_options"] == {"include_usage": True}
    quiet = _t("openai-compatible", "http://127.0.0.1:8000/v1", stream_usage=False)
    b = builder(quiet, Workload(), quiet.base_url, env={"OPENAI_API_KEY": "k"})
    assert b.headers["authorization"] == "Bearer k"
    assert "stream_options" not in orjson.loads(b.body(PROMPT))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        builder(_t("openai-compatible", "http://127.0.0.1:8000/v1"), Workload(), t.base_url, env={})


def test_live_round_trip_for_every_kind() -> None:
    async def run(base: str) -> list[tuple[str, Reading]]:
        out = []
        w = Workload(input_tokens=Lengths(mean=50), output_tokens=Lengths(mean=12), ignore_eos=True)
        src = PromptSource(w, seed=5)
        async with aiohttp.ClientSession() as session:
            for kind, model in (
                ("openai", "gpt-4o-nano"),
                ("openai-responses", "gpt-4o-nano"),
                ("anthropic", "claude-3-5-haiku"),
            ):
                t = Target(kind, kind, model, "sim", "UNSET_KEY_VAR")
                url_base = base + "/v1" if kind != "anthropic" else base
                b = builder(t, w, url_base, env={})
                parser, reading = SSEParser(), Reading()
                async with session.post(
                    b.url, data=b.body(src.prompt(0)), headers=b.headers
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    async for chunk in resp.content.iter_any():
                        PARSERS[kind](parser.feed(chunk), reading)
                out.append((kind, reading))
        return out

    with Simulator(seed=3, sim_start="2026-11-22T03:00:00-05:00") as sim:
        results = asyncio.run(run(sim.base_url))
    for kind, r in results:
        assert r.complete, kind
        # exact lengths where the API allows it; the Responses API's minimum is 16
        assert r.output_tokens == (16 if kind == "openai-responses" else 12), kind
        assert r.usage_input_tokens and r.usage_input_tokens > 40, kind
