"""The official openai and anthropic SDKs as real clients of the simulator.

Each test parses every event with the SDK and checks that the usage the SDK reports is
what the simulator intended (x-sim-output-tokens, and the input estimate clients can
compute with count_input_tokens).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anthropic
import openai
import pytest
from anthropic.types import (
    MessageParam,
    RawMessageDeltaEvent,
    ThinkingBlock,
    ToolParam,
    ToolUseBlock,
)
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam
from openai.types.responses import FunctionToolParam

from loadtest.sim.process import Simulator
from loadtest.sim.text import count_input_tokens

OFF_PEAK = "2026-11-22T03:00:00-05:00"
QUESTION = "What's the weather in Berlin?"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
# The same conversation, in the Messages API's types.
ANTHROPIC_MESSAGES: list[MessageParam] = [{"role": "user", "content": QUESTION}]
WEATHER_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "units"],
}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(seed=4, sim_start=OFF_PEAK) as s:
        yield s


@pytest.fixture
def oai(sim: Simulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-sim", max_retries=0, timeout=20)


@pytest.fixture
def ant(sim: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_url, api_key="sk-sim", max_retries=0, timeout=20)


def test_chat_stream_with_usage(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-nano",
        messages=MESSAGES,
        max_tokens=400,
        stream=True,
        stream_options={"include_usage": True},
    )
    intended = int(raw.headers["x-sim-output-tokens"])
    content, usage, finish = [], None, None
    for chunk in raw.parse():
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                content.append(choice.delta.content)
            finish = choice.finish_reason or finish
    assert usage is not None
    assert usage.completion_tokens == len(content) == intended
    assert usage.prompt_tokens == count_input_tokens(MESSAGES)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert finish in ("stop", "length")


def test_chat_non_streaming_exact_length(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(
        model="gpt-4o-nano", messages=MESSAGES, max_tokens=7, extra_body={"ignore_eos": True}
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 7
    assert r.choices[0].message.content and len(r.choices[0].message.content.split()) == 7


def test_chat_stream_helper_tool_call(oai: openai.OpenAI) -> None:
    tools: list[ChatCompletionFunctionToolParam] = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    with oai.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, tools=tools, tool_choice="required"
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.delta" in kinds
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    args = json.loads(call.function.arguments)
    assert set(args) == {"city", "units"} and args["units"] in ("celsius", "fahrenheit")


def test_chat_reasoning_content_precedes_content(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="deepseek-reasoner",
        messages=MESSAGES,
        max_tokens=600,
        stream=True,
        stream_options={"include_usage": True},
    )
    order, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            if getattr(choice.delta, "reasoning_content", None):
                order.append("r")
            if choice.delta.content:
                order.append("c")
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning = order.count("r")
    assert reasoning > 0 and usage.completion_tokens_details.reasoning_tokens == reasoning
    assert order == ["r"] * reasoning + ["c"] * (len(order) - reasoning)
    assert usage.completion_tokens == len(order)


def test_responses_stream_helper(oai: openai.OpenAI) -> None:
    with oai.responses.stream(
        model="gpt-4o-nano", input="Say hello.", max_output_tokens=2000
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens == len(deltas)
    assert final.usage.input_tokens == count_input_tokens(["Say hello."])
    assert final.output_text == "".join(deltas)


def test_responses_raw_events_sequence_and_incomplete(oai: openai.OpenAI) -> None:
    events = list(
        oai.responses.create(
            model="gpt-4o-nano",
            input="Hi",
            max_output_tokens=20,
            stream=True,
            extra_body={"ignore_eos": True},
        )
    )
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.incomplete"
    usage = events[-1].response.usage
    assert usage is not None and usage.output_tokens == 20
    assert sum(e.type == "response.output_text.delta" for e in events) == 20


def test_responses_function_call_stream(oai: openai.OpenAI) -> None:
    # The SDK's type requires "strict"; this request leaves it out.
    tools = cast(
        "list[FunctionToolParam]",
        [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}],
    )
    events = list(
        oai.responses.create(
            model="gpt-4o-mini", input="Weather?", tools=tools, tool_choice="required", stream=True
        )
    )
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert set(json.loads(args)) == {"city", "units"}
    done = next(e for e in events if e.type == "response.output_item.done")
    assert done.item.type == "function_call" and done.item.arguments == args
    assert events[-1].type == "response.completed"


def test_anthropic_messages_stream(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(
        model="claude-3-5-haiku-latest", max_tokens=2000, messages=ANTHROPIC_MESSAGES
    ) as stream:
        texts = [
            e.delta.text
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        ]
        final = stream.get_final_message()
    # The haiku preset packs three tokens into a delta after the first, as Anthropic's does.
    assert len(texts) == 1 + -(-(final.usage.output_tokens - 1) // 3)
    assert final.usage.input_tokens == count_input_tokens(ANTHROPIC_MESSAGES)
    assert final.content[0].type == "text" and final.content[0].text == "".join(texts)
    assert final.stop_reason == "end_turn"


def test_anthropic_raw_event_order(ant: anthropic.Anthropic) -> None:
    events = list(
        ant.messages.create(
            model="claude-3-5-haiku",
            max_tokens=5,
            stream=True,
            messages=ANTHROPIC_MESSAGES,
            extra_body={"ignore_eos": True},
        )
    )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 3  # 5 tokens: the first alone, then 3 and 1
    message_delta = cast(RawMessageDeltaEvent, events[-2])  # its kind: just above
    assert message_delta.delta.stop_reason == "max_tokens"
    assert message_delta.usage.output_tokens == 5


def test_anthropic_tool_use_with_thinking(ant: anthropic.Anthropic) -> None:
    tools: list[ToolParam] = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    with ant.messages.stream(
        model="claude-3-5-haiku",
        max_tokens=2000,
        tools=tools,
        tool_choice={"type": "any"},
        messages=ANTHROPIC_MESSAGES,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    thinking = cast(ThinkingBlock, final.content[0])  # the kinds of block: just above
    assert thinking.thinking and thinking.signature
    tool = cast(ToolUseBlock, final.content[1])
    assert tool.name == "get_weather" and set(tool.input) == {"city", "units"}
    assert final.stop_reason == "tool_use"


def test_anthropic_missing_max_tokens_is_invalid_request(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.post(
            "/v1/messages",
            cast_to=object,
            body={"model": "claude-3-5-haiku", "messages": ANTHROPIC_MESSAGES},
        )
    assert info.value.status_code == 400
    body = cast("dict[str, Any]", info.value.body)
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


def test_openai_bad_request_names_the_param(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert info.value.param == "messages"


def test_models_list_in_both_shapes(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    ids = {m.id for m in oai.models.list().data}
    assert {"gpt-4o-mini", "gpt-4o-nano", "claude-3-5-haiku"} <= ids
    page = ant.models.list()
    assert "claude-3-5-haiku" in {m.id for m in page.data}
    assert all(m.type == "model" for m in page.data)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini-2024-07-18",
        "claude-3-5-haiku-20241022",
        "claude-haiku-3-5",
        "some-unknown-model",
    ],
)
def test_aliases_and_unknown_models_are_served(oai: openai.OpenAI, model: str) -> None:
    r = oai.chat.completions.create(model=model, messages=MESSAGES, max_tokens=2)
    assert r.model == model and r.usage is not None and r.usage.completion_tokens >= 1


def test_async_clients_stream(sim: Simulator) -> None:
    async def run() -> tuple[int, int]:
        aoai = openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="k", max_retries=0)
        aant = anthropic.AsyncAnthropic(base_url=sim.base_url, api_key="k", max_retries=0)
        stream = await aoai.chat.completions.create(
            model="gpt-4o-nano",
            messages=MESSAGES,
            max_tokens=6,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        n_openai = len([c async for c in stream if c.choices and c.choices[0].delta.content])
        async with aant.messages.stream(
            model="claude-3-5-haiku",
            max_tokens=6,
            messages=ANTHROPIC_MESSAGES,
            extra_body={"ignore_eos": True},
        ) as s:
            final = await s.get_final_message()
        return n_openai, final.usage.output_tokens

    assert asyncio.run(run()) == (6, 6)


def test_strict_models_and_api_key_check(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.toml"
    cfg.write_text('strict_models = true\napi_key_env = "SIM_TEST_KEY"\n')
    secret = "k-secret-123"
    with Simulator(cfg, seed=1, env={"SIM_TEST_KEY": secret}) as s:
        good = openai.OpenAI(base_url=s.openai_base_url, api_key=secret, max_retries=0)
        bad = openai.OpenAI(base_url=s.openai_base_url, api_key="wrong", max_retries=0)
        good_a = anthropic.Anthropic(base_url=s.base_url, api_key=secret, max_retries=0)
        bad_a = anthropic.Anthropic(base_url=s.base_url, api_key="wrong", max_retries=0)
        assert (
            good.chat.completions.create(model="gpt-4o-nano", messages=MESSAGES, max_tokens=1).usage
            is not None
        )
        with pytest.raises(openai.AuthenticationError) as denied:
            bad.chat.completions.create(model="gpt-4o-nano", messages=MESSAGES, max_tokens=1)
        assert secret not in json.dumps(denied.value.body)
        with pytest.raises(anthropic.AuthenticationError) as denied_a:
            bad_a.messages.create(
                model="claude-3-5-haiku", max_tokens=1, messages=ANTHROPIC_MESSAGES
            )
        body_a = cast("dict[str, Any]", denied_a.value.body)
        assert body_a["error"]["type"] == "authentication_error"
        assert secret not in json.dumps(denied_a.value.body)
        with pytest.raises(openai.NotFoundError):
            good.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=1)
        with pytest.raises(anthropic.NotFoundError):
            good_a.messages.create(model="no-such-model", max_tokens=1, messages=ANTHROPIC_MESSAGES)
