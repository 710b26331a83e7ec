"""Prompts and request building per target kind, and a live round trip through the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson
import pytest

from loadtest.config_reader import ConfigError
from loadtest.profile import Target
from loadtest.providers import PARSERS
from loadtest.providers.build import SIM_KEY, RequestBuilder, builder
from loadtest.providers.reading import Reading
from loadtest.sim.process import Simulator
from loadtest.sim.text import count_input_tokens
from loadtest.sse import SSEParser
from loadtest.workload import Prompt, PromptSource
from loadtest.workload_spec import Lengths, Workload


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
    # Two targets at one index: the same budget and length, other text (two targets on
    # one server must not share a prefix cache); a target's own sequence is reproducible.
    x, y = a.prompt(3, "x"), a.prompt(3, "y")
    assert x.max_tokens == y.max_tokens == p.max_tokens and x.messages != y.messages
    assert abs(len(x.messages[0]["content"]) - len(y.messages[0]["content"])) <= 1
    assert b.prompt(3, "x") == x


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


# The exact bytes sent, per kind and option: the Provider refactor kept them as they were.
ALL = b'[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]'
USER = b'[{"role":"user","content":"hi"}]'
JSON = [("content-type", "application/json"), ("accept", "text/event-stream")]
USAGE = b'"stream_options":{"include_usage":true},'
START = b'{"model":"m","stream":true,'
WIRE = [
    (
        "openai",
        {},
        Workload(),
        {"OPENAI_API_KEY": "k"},
        "https://x/v1/chat/completions",
        [*JSON, ("authorization", "Bearer k")],
        START + USAGE + b'"messages":' + ALL + b',"max_completion_tokens":42}',
    ),
    (
        "openai",  # no usage chunk asked; hosted OpenAI gets no ignore_eos
        {"stream_usage": False},
        Workload(temperature=0.5, ignore_eos=True),
        {"OPENAI_API_KEY": "k"},
        "https://x/v1/chat/completions",
        [*JSON, ("authorization", "Bearer k")],
        START + b'"temperature":0.5,"messages":' + ALL + b',"max_completion_tokens":42}',
    ),
    (
        "openai-compatible",  # keyless local server, exact lengths
        {"api_key_required": False},
        Workload(ignore_eos=True),
        {},
        "https://x/v1/chat/completions",
        JSON,
        START + USAGE + b'"ignore_eos":true,"messages":' + ALL + b',"max_tokens":42}',
    ),
    (
        "openai-compatible",  # params win, in place, and new ones come last
        {"stream_usage": False, "params": (("max_tokens", 7), ("seed", 1))},
        Workload(),
        {"OPENAI_API_KEY": "k"},
        "https://x/v1/chat/completions",
        [*JSON, ("authorization", "Bearer k")],
        START + b'"messages":' + ALL + b',"max_tokens":7,"seed":1}',
    ),
    (
        "openai-responses",
        {},
        Workload(ignore_eos=True),
        {"OPENAI_API_KEY": "k"},
        "https://x/v1/responses",
        [*JSON, ("authorization", "Bearer k")],
        START + b'"instructions":"be brief","input":' + USER + b',"max_output_tokens":42}',
    ),
    (
        "anthropic",
        {"headers": (("x-team", "perf"),)},
        Workload(temperature=0.0, ignore_eos=True),
        {"ANTHROPIC_API_KEY": "ak"},
        "https://x/v1/messages",
        [*JSON, ("x-api-key", "ak"), ("anthropic-version", "2023-06-01"), ("x-team", "perf")],
        START + b'"temperature":0.0,"system":"be brief","messages":' + USER + b',"max_tokens":42}',
    ),
    (
        "anthropic",  # params win over the system and length fields too
        {"params": (("max_tokens", 9), ("system", "over"), ("metadata", {"user_id": "u"}))},
        Workload(),
        {"ANTHROPIC_API_KEY": "ak"},
        "https://x/v1/messages",
        [*JSON, ("x-api-key", "ak"), ("anthropic-version", "2023-06-01")],
        START
        + b'"system":"over","messages":'
        + USER
        + b',"max_tokens":9,"metadata":{"user_id":"u"}}',
    ),
    (
        "openai",  # a profile header replaces ours where it was
        {"headers": (("authorization", "Bearer team"), ("x-team", "perf"))},
        Workload(),
        {"OPENAI_API_KEY": "k"},
        "https://x/v1/chat/completions",
        [*JSON, ("authorization", "Bearer team"), ("x-team", "perf")],
        START + USAGE + b'"messages":' + ALL + b',"max_completion_tokens":42}',
    ),
]


@pytest.mark.parametrize(
    ("kind", "kw", "w", "env", "url", "headers", "body"),
    WIRE,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(WIRE)],
)
def test_exact_url_headers_and_body_per_kind_and_option(
    kind: str,
    kw: dict[str, object],
    w: Workload,
    env: dict[str, str],
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    b = builder(
        _t(kind, "https://x/v1" if kind != "anthropic" else "https://x", **kw),
        w,
        "https://x/v1/" if kind != "anthropic" else "https://x/",
        env=env,
    )
    assert b.url == url
    assert list(b.headers.items()) == headers
    assert b.body(PROMPT) == body


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "anthropic", "openai-compatible"])
def test_simulator_targets_get_ignore_eos_and_the_simulator_key(kind: str) -> None:
    b = builder(_t(kind), Workload(ignore_eos=True), "http://127.0.0.1:1/v1", env={})
    body = orjson.loads(b.body(PROMPT))
    assert body["ignore_eos"] is True and list(body)[:2] == ["model", "stream"]
    assert SIM_KEY in b.headers.get("authorization", b.headers.get("x-api-key", ""))


def test_system_messages_are_joined_or_left_out_per_kind() -> None:
    many = Prompt(
        (
            {"role": "system", "content": "a"},
            {"role": "user", "content": "u"},
            {"role": "system", "content": "b"},
        ),
        5,
    )
    bare = Prompt(({"role": "user", "content": "u"},), 5)
    env = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}
    a = builder(_t("anthropic", "https://x"), Workload(), "https://x", env=env)
    r = builder(_t("openai-responses", "https://x/v1"), Workload(), "https://x/v1", env=env)
    c = builder(_t("openai-compatible", "https://x/v1"), Workload(), "https://x/v1", env=env)
    assert orjson.loads(a.body(many))["system"] == "a\nb"
    assert orjson.loads(r.body(many))["instructions"] == "a\nb"
    assert orjson.loads(r.body(many))["input"] == [{"role": "user", "content": "u"}]
    assert "system" not in orjson.loads(a.body(bare))
    assert "instructions" not in orjson.loads(r.body(bare))
    # Responses refuses fewer than 16 output tokens; the others get what was asked
    assert orjson.loads(r.body(bare))["max_output_tokens"] == 16
    assert orjson.loads(a.body(bare))["max_tokens"] == 5
    assert orjson.loads(c.body(many))["messages"] == list(many.messages)


def test_the_key_is_in_the_headers_only() -> None:
    key = "sk-very-secret-123"
    for kind in ("openai", "openai-responses", "anthropic", "openai-compatible"):
        env = {"OPENAI_API_KEY": key, "ANTHROPIC_API_KEY": key}
        b = builder(_t(kind, "https://x/v1"), Workload(), "https://x/v1", env=env)
        assert key in "".join(b.headers.values())
        assert key not in repr(b) and key not in str(b) and key not in repr(b.provider)
        assert key.encode() not in b.body(PROMPT)
        assert b.provider.kind == kind and b.provider.parse_events is PARSERS[kind]
    with pytest.raises(ConfigError) as info:
        builder(_t("anthropic", "https://x"), Workload(), "https://x", env={"OPENAI_API_KEY": key})
    assert key not in str(info.value) and "ANTHROPIC_API_KEY is not set" in str(info.value)


def test_a_builder_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown target kind 'bard': expected one of anthropic"):
        RequestBuilder("http://127.0.0.1:1/x", {}, "bard", {}, {})


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
                ("openai-compatible", "gpt-4o-nano"),
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
