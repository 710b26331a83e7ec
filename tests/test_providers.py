"""Provider event parsing: round trips through the simulator's encoders, errors, server variants."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from loadtest.errors import ErrorClass
from loadtest.providers import PARSERS, EventParser, anthropic, openai_chat, openai_responses
from loadtest.providers.reading import Reading, wrong_shape
from loadtest.sim import wire_anthropic, wire_chat, wire_responses
from loadtest.sim.plan import Plan, ToolCall
from loadtest.sim.presets import builtin_table
from loadtest.sim.process import Simulator
from loadtest.sim.stream import Encoder
from loadtest.sse import Event, SSEParser

REASONING_TEXT = (" think", " more")
TEXT = (" Hello", " there", ",", " world")
TOOL = ToolCall("call_1", "get_weather", '{"city": "Berlin"}')
TOOL_FRAGMENTS = ('{"ci', 'ty": "', "Berl", 'in"}')


def _plan(reasoning: tuple[str, ...], tool: bool, finish: str = "stop") -> Plan:
    content = TOOL_FRAGMENTS if tool else TEXT
    return Plan(
        0.1, 0.1, reasoning, content, "tool_calls" if tool else finish, 21, TOOL if tool else None
    )


# What one event did to the Reading, for tables of per-event expectations.
NONE, TOKEN, REASONING, DONE, ERROR = "none", "token", "reasoning", "done", "error"


def kinds_of(parse: EventParser, events: list[Event], r: Reading) -> list[str]:
    """Feed EVENTS one at a time and name what each changed in R."""
    out = []
    for e in events:
        seen, reasoning, done, error = r.events, r.reasoning_events, r.done, r.error
        parse([e], r)
        if r.error is not None and error is None:
            out.append(ERROR)
        elif r.events > seen:
            out.append(REASONING if r.reasoning_events > reasoning else TOKEN)
        elif r.done and not done:
            out.append(DONE)
        else:
            out.append(NONE)
    return out


def _encoders(plan: Plan) -> dict[str, Encoder]:
    return {
        "openai": wire_chat.ChatEncoder(plan, "m", "x", 0, include_usage=True),
        "openai-responses": wire_responses.ResponsesEncoder(plan, "m", "x", 0),
        "anthropic": wire_anthropic.MessagesEncoder(plan, "m", "x"),
    }


def _read(kind: str, body: bytes) -> tuple[list[str], Reading]:
    parser, reading = SSEParser(), Reading()
    kinds = kinds_of(PARSERS[kind], parser.feed(body) + parser.close(), reading)
    assert not parser.truncated
    return kinds, reading


def _stream(enc: Encoder, n: int) -> bytes:
    return enc.preamble() + b"".join(enc.event(i) for i in range(n)) + enc.finish()


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "anthropic"])
@pytest.mark.parametrize(
    ("reasoning", "tool"),
    [((), False), ((), True), (REASONING_TEXT, False)],
    ids=["text", "tool", "reasoning"],
)
def test_round_trip_through_the_simulator_encoders(
    kind: str, reasoning: tuple[str, ...], tool: bool
) -> None:
    plan = _plan(reasoning, tool)
    kinds, r = _read(kind, _stream(_encoders(plan)[kind], plan.events))
    tokens = [k for k in kinds if k in (TOKEN, REASONING)]
    # The Responses API hides reasoning: its time passes with no events.
    shown = () if kind == "openai-responses" else reasoning
    assert tokens == [REASONING] * len(shown) + [TOKEN] * len(plan.content)
    assert r.events == len(tokens) and r.reasoning_events == len(shown)
    assert r.usage_output_tokens == plan.output_tokens and not r.counted
    assert r.usage_input_tokens == 21
    assert r.done and r.complete and r.error is None
    assert kinds[-1] == DONE


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("openai", ErrorClass.STREAM_ERROR),
        ("openai-responses", ErrorClass.STREAM_ERROR),
        ("anthropic", ErrorClass.OVERLOADED),
    ],
)
def test_in_stream_errors_are_classified(kind: str, error: str) -> None:
    plan = _plan((), False)
    enc = _encoders(plan)[kind]
    body = enc.preamble() + enc.event(0) + enc.error_event()
    kinds, r = _read(kind, body)
    assert kinds[-1] == ERROR and r.error == error and not r.complete
    assert r.events == 1


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "anthropic"])
def test_malformed_events_are_protocol_errors(kind: str) -> None:
    enc = _encoders(_plan((), False))[kind]
    body = enc.preamble() + enc.malformed() + b"\n\n"
    parser, r = SSEParser(), Reading()
    kinds = kinds_of(PARSERS[kind], parser.feed(body), r)
    assert ERROR in kinds and r.error == ErrorClass.PROTOCOL
    assert "invalid JSON" in r.error_detail


def _chunk(
    delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None
) -> Event:
    obj: dict[str, Any] = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        obj["usage"] = usage
    return Event(b"message", orjson.dumps(obj), b"")


CHAT_VARIANTS = [
    (
        "role chunk is not a token",
        [_chunk({"role": "assistant", "content": ""})],
        [NONE],
        {"events": 0},
    ),
    (
        "vLLM reasoning field",
        [_chunk({"reasoning": "hm"}), _chunk({"content": "a"})],
        [REASONING, TOKEN],
        {"events": 2, "reasoning_events": 1},
    ),
    (
        "no [DONE]: finish ends it",
        [_chunk({"content": "a"}), _chunk({}, "stop")],
        [TOKEN, NONE],
        {"complete": True, "done": False, "counted": True},
    ),
    (
        "usage inside the finish chunk",
        [
            _chunk({"content": "a"}),
            _chunk({}, "length", {"completion_tokens": 9, "prompt_tokens": 3}),
        ],
        [TOKEN, NONE],
        {"output_tokens": 9, "counted": False, "finish_reason": "length"},
    ),
    (
        "no usage at all: counted",
        [_chunk({"content": "a"}), _chunk({"content": "b"}), Event(b"message", b"[DONE]", b"")],
        [TOKEN, TOKEN, DONE],
        {"output_tokens": 2, "counted": True},
    ),
    (
        "null usage is ignored",
        [
            _chunk({"content": "a"}, usage=None),
            Event(b"message", b'{"choices":[],"usage":null}', b""),
        ],
        [TOKEN, NONE],
        {"counted": True},
    ),
    (
        "vLLM error object",
        [Event(b"message", b'{"object":"error","message":"boom","code":500}', b"")],
        [ERROR],
        {"error": ErrorClass.STREAM_ERROR},
    ),
    ("not an object", [Event(b"message", b"[1, 2]", b"")], [ERROR], {"error": ErrorClass.PROTOCOL}),
    (
        "tool call name chunk without arguments is not a token",
        [
            _chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}
                    ]
                }
            ),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        ],
        [NONE, TOKEN],
        {"events": 1},
    ),
]


@pytest.mark.parametrize(
    ("name", "events", "kinds", "expect"), CHAT_VARIANTS, ids=[c[0] for c in CHAT_VARIANTS]
)
def test_openai_compatible_variants(
    name: str, events: list[Event], kinds: list[str], expect: dict[str, object]
) -> None:
    r = Reading()
    assert kinds_of(openai_chat.parse_events, events, r) == kinds
    for attr, value in expect.items():
        assert getattr(r, attr) == value, attr


def test_anthropic_ping_signature_and_unknown_events_are_not_tokens() -> None:
    r = Reading()
    events = [
        Event(b"ping", b'{"type": "ping"}', b""),
        Event(
            b"content_block_delta",
            b'{"type":"content_block_delta","index":0,'
            b'"delta":{"type":"signature_delta","signature":"s"}}',
            b"",
        ),
        Event(b"future_event", b'{"type":"future_event"}', b""),
        Event(b"error", b'{"type":"error","error":{"type":"api_error","message":"x"}}', b""),
    ]
    assert kinds_of(anthropic.parse_events, events, r) == [NONE] * 3 + [ERROR]
    assert r.error == ErrorClass.STREAM_ERROR and r.events == 0


def test_responses_failed_event_is_a_stream_error() -> None:
    r = Reading()
    e = Event(
        b"response.failed",
        b'{"type":"response.failed","response":{"error":'
        b'{"code":"server_error","message":"went wrong"}}}',
        b"",
    )
    assert kinds_of(openai_responses.parse_events, [e], r) == [ERROR]
    assert r.error == ErrorClass.STREAM_ERROR and r.error_detail == "went wrong"


def test_live_simulator_usage_matches_what_it_intended() -> None:
    bodies = {
        "openai": (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-nano",
                "stream": True,
                "max_tokens": 30,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "hi"}],
            },
        ),
        "openai-responses": (
            "/v1/responses",
            {"model": "gpt-4o-nano", "stream": True, "max_output_tokens": 400, "input": "hi"},
        ),
        "anthropic": (
            "/v1/messages",
            {
                "model": "claude-3-5-haiku",
                "stream": True,
                "max_tokens": 30,
                "messages": [{"role": "user", "content": "hi"}],
            },
        ),
    }

    async def run(base: str) -> list[tuple[str, Reading, int]]:
        out = []
        async with aiohttp.ClientSession() as session:
            for kind, (path, body) in bodies.items():
                for _ in range(3):
                    parser, reading = SSEParser(), Reading()
                    async with session.post(base + path, json=body) as resp:
                        intended = int(resp.headers["x-sim-output-tokens"])
                        async for chunk in resp.content.iter_any():
                            PARSERS[kind](parser.feed(chunk), reading)
                    parser.close()
                    out.append((kind, reading, intended))
        return out

    with Simulator(seed=8, sim_start="2026-11-22T03:00:00-05:00") as sim:
        results = asyncio.run(run(sim.base_url))
    presets = builtin_table()
    for kind, reading, intended in results:
        assert reading.complete, kind
        assert reading.output_tokens == intended and not reading.counted, kind
        # events, not tokens: a preset may pack several tokens into one (claude-3-5-haiku
        # 3), after a first event of one token
        preset = presets.lookup(str(bodies[kind][1]["model"]))
        assert preset is not None
        assert reading.events == 1 + -(-(intended - 1) // preset.tokens_per_event)


# Valid JSON of the wrong shape: each is a protocol error naming the field, never an
# exception out of the reader (one stopped the target's workers, silently).
WRONG_SHAPES = [
    ("openai", b'{"choices":"abc"}', "choices is a string, not an array"),
    ("openai", b'{"choices":5}', "choices is an integer, not an array"),
    ("openai", b'{"choices":[7]}', "choices[0] is an integer, not an object"),
    ("openai", b'{"choices":[{"delta":[1]}]}', "choices[0].delta is an array, not an object"),
    (
        "openai",
        b'{"choices":[{"delta":{"tool_calls":{"a":1}}}]}',
        "choices[0].delta.tool_calls is an object, not an array",
    ),
    ("openai", b'{"choices":[],"usage":"x"}', "usage is a string, not an object"),
    (
        "openai",
        b'{"choices":[],"usage":{"completion_tokens":"9"}}',
        "usage.completion_tokens is a string, not an integer",
    ),
    (
        "openai",
        b'{"choices":[],"usage":{"completion_tokens":9,"prompt_tokens":3.0}}',
        "usage.prompt_tokens is a number, not an integer",
    ),
    ("anthropic", b'{"type":"message_start","message":"m"}', "message is a string, not an object"),
    (
        "anthropic",
        b'{"type":"message_start","message":{"usage":{"input_tokens":true}}}',
        "message.usage.input_tokens is a boolean, not an integer",
    ),
    (
        "anthropic",
        b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":"12"}}',
        "usage.output_tokens is a string, not an integer",
    ),
    ("anthropic", b'{"type":"content_block_delta","delta":["x"]}', "delta is an array"),
    (
        "anthropic",
        b'{"type":"content_block_delta","delta":{"type":["text_delta"]}}',
        "delta.type is an array, not a string",
    ),
    ("anthropic", b'{"type":"error","error":"overloaded"}', "error is a string, not an object"),
    (
        "openai-responses",
        b'{"type":["response.output_text.delta"],"delta":"a"}',
        "type is an array, not a string",
    ),
    ("openai-responses", b'{"type":"response.completed","response":[1]}', "response is an array"),
    (
        "openai-responses",
        b'{"type":"response.completed","response":{"usage":{"output_tokens":"7"}}}',
        "response.usage.output_tokens is a string, not an integer",
    ),
    (
        "openai-responses",
        b'{"type":"response.incomplete","response":{"incomplete_details":"max"}}',
        "response.incomplete_details is a string, not an object",
    ),
    (
        "openai-responses",
        b'{"type":"response.failed","response":{"error":"boom"}}',
        "response.error is a string, not an object",
    ),
]

# One content event of each kind, sent in the same read before the wrong-shaped one.
GOOD_TOKEN = {
    "openai": b'{"choices":[{"delta":{"content":"a"}}]}',
    "anthropic": b'{"type":"content_block_delta","delta":{"type":"text_delta","text":"a"}}',
    "openai-responses": b'{"type":"response.output_text.delta","delta":"a"}',
}


@pytest.mark.parametrize(
    ("kind", "data", "field"), WRONG_SHAPES, ids=[f"{k}: {d.decode()}" for k, d, _ in WRONG_SHAPES]
)
def test_valid_json_of_the_wrong_shape_is_a_protocol_error_naming_the_field(
    kind: str, data: bytes, field: str
) -> None:
    r = Reading()
    good = Event(b"message", GOOD_TOKEN[kind], b"")
    PARSERS[kind]([good, Event(b"message", data, b""), good], r)  # one read
    assert r.error == ErrorClass.PROTOCOL, r.error_detail
    assert field in r.error_detail and repr(data[:20])[:-1] in r.error_detail, r.error_detail
    assert r.events == 1  # the event before it counted, none after it (reading stops there)
    # a token count that is not an int never reaches the record (the sums would break)
    for n in (r.usage_output_tokens, r.usage_input_tokens, r.output_tokens):
        assert n is None or type(n) is int


def test_a_wrong_shape_no_field_explains_names_the_exception() -> None:
    # When no field of the shape is wrong (a reader's own bug), the detail still says what
    # was raised, and on which event.
    r = Reading()
    wrong_shape(r, AttributeError("'str' object has no attribute 'get'"), b'{"a":1}', {})
    assert r.error == ErrorClass.PROTOCOL
    assert "AttributeError: 'str' object has no attribute 'get'" in r.error_detail
    assert "b'{\"a\":1}'" in r.error_detail
