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
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam
from openai.types.responses import FunctionToolParam

from loadtest.sim.process import Simulator
from loadtest.sim.text import count_input_tokens
from loadtest.tasks import read_tasks, shipped_task_file
from loadtest.toolsets import toolset
from loadtest.validators import ToolCall, judge_extraction, judge_tool_call

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


# --- tool, extraction and agent tasks (the simulator answers the shipped ones) -------------

FIVE = toolset("five")
TASKS = {t.id: t for t in read_tasks(shipped_task_file("agent-tools"))}
EXTRACT = next(t for t in read_tasks(shipped_task_file("extraction")) if t.id == "extract-002")
SCHEMAS = {t["name"]: t["parameters"] for t in FIVE}
PICKS = ["five-003", "five-004", "five-005", "five-u01", "five-011", "five-012"]
# Presets made fast: these tests read what is said, not when.
FAST = """
[models."*"]
ttft_median_ms = 1
ttft_p95_ms = 2
prefill_ms_per_1k_tokens = 0
tokens_per_s = 20000
"""


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    cfg = tmp_path_factory.mktemp("fast") / "sim.toml"
    cfg.write_text(FAST)
    with Simulator(cfg, seed=4, sim_start=OFF_PEAK) as s:
        yield s


@pytest.fixture
def foai(fast: Simulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=fast.openai_base_url, api_key="k", max_retries=0, timeout=20)


@pytest.fixture
def fant(fast: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fast.base_url, api_key="k", max_retries=0, timeout=20)


def _judge(task_id: str, calls: list[ToolCall], text: str) -> str:
    task = TASKS[task_id]
    assert task.expect is not None
    return judge_tool_call(task.expect, SCHEMAS, calls, text, task.prompt)


@pytest.mark.parametrize("task_id", PICKS)
def test_chat_stream_state_accumulates_the_announced_tool_call(
    foai: openai.OpenAI, task_id: str
) -> None:
    oai = foai
    tools = cast(
        "list[ChatCompletionFunctionToolParam]", [{"type": "function", "function": t} for t in FIVE]
    )
    messages = cast("list[ChatCompletionMessageParam]", list(TASKS[task_id].messages))
    for model in ("gpt-4o-mini", "claude-3-5-haiku"):
        raw = oai.chat.completions.with_raw_response.create(
            model=model, messages=messages, tools=tools, tool_choice="auto", stream=True
        )
        state = ChatCompletionStreamState(input_tools=tools)
        for chunk in raw.parse():
            state.handle_chunk(chunk)
        message = state.get_final_completion().choices[0].message
        calls = [ToolCall(c.function.name, c.function.arguments) for c in message.tool_calls or ()]
        assert raw.headers["x-sim-task"] == task_id
        assert _judge(task_id, calls, message.content or "") == raw.headers["x-sim-outcome"]
        if model == "claude-3-5-haiku" and calls:  # it says what it will do, then calls
            assert message.content and calls[0].name in message.content


@pytest.mark.parametrize("task_id", PICKS)
def test_responses_stream_final_output_is_the_announced_tool_call(
    foai: openai.OpenAI, task_id: str
) -> None:
    oai = foai
    tools = cast(
        "list[FunctionToolParam]", [{"type": "function", **t, "strict": False} for t in FIVE]
    )
    for model in ("gpt-4o-mini", "claude-3-5-haiku"):
        raw = oai.responses.with_raw_response.create(
            model=model, input=TASKS[task_id].prompt, tools=tools, tool_choice="auto", stream=True
        )
        events = list(raw.parse())
        assert [e.sequence_number for e in events] == list(range(len(events)))
        final = events[-1]
        assert final.type == "response.completed"
        calls = [
            ToolCall(i.name, i.arguments)
            for i in final.response.output
            if i.type == "function_call"
        ]
        args = "".join(
            e.delta for e in events if e.type == "response.function_call_arguments.delta"
        )
        assert [c.arguments for c in calls] == ([args] if calls else [])
        outcome = _judge(task_id, calls, final.response.output_text)
        assert outcome == raw.headers["x-sim-outcome"]


@pytest.mark.parametrize("task_id", PICKS)
def test_anthropic_stream_final_message_is_the_announced_tool_use(
    fant: anthropic.Anthropic, task_id: str
) -> None:
    ant = fant
    tools = cast(
        "list[ToolParam]",
        [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in FIVE
        ],
    )
    with ant.messages.stream(
        model="claude-3-5-haiku",
        max_tokens=1024,
        tools=tools,
        tool_choice={"type": "auto"},
        messages=[{"role": "user", "content": TASKS[task_id].prompt}],
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_message()
        headers = stream.response.headers
    uses = [b for b in final.content if isinstance(b, ToolUseBlock)]
    text = "".join(b.text for b in final.content if b.type == "text")
    calls = [ToolCall(b.name, json.dumps(b.input)) for b in uses]
    assert _judge(task_id, calls, text) == headers["x-sim-outcome"]
    if uses:  # Haiku's words before its call come as a text block of their own
        assert [b.type for b in final.content] == ["text", "tool_use"]
        assert final.stop_reason == "tool_use"


def test_sdks_read_extractions_as_content_or_the_forced_tool(
    foai: openai.OpenAI, fant: anthropic.Anthropic
) -> None:
    oai, ant = foai, fant
    schema, prompt = dict(EXTRACT.schema or {}), EXTRACT.prompt
    for _ in range(3):
        raw = oai.chat.completions.with_raw_response.create(
            model="gpt-4o-nano",
            messages=[{"role": "user", "content": prompt}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "extract", "schema": schema, "strict": True},
            },
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        said = raw.headers["x-sim-outcome"]
        assert judge_extraction(schema, EXTRACT.fields, text, prompt) == said
        resp = oai.responses.with_raw_response.create(
            model="gpt-4o-nano",
            input=prompt,
            text={
                "format": {
                    "type": "json_schema",
                    "name": "extract",
                    "schema": schema,
                    "strict": True,
                }
            },
            stream=True,
        )
        final = list(resp.parse())[-1]
        assert final.type == "response.completed"
        said = resp.headers["x-sim-outcome"]
        assert judge_extraction(schema, EXTRACT.fields, final.response.output_text, prompt) == said
        with ant.messages.stream(
            model="claude-3-5-haiku",
            max_tokens=1024,
            tools=[{"name": "extract", "input_schema": cast("Any", schema)}],
            tool_choice={"type": "tool", "name": "extract"},
            messages=[{"role": "user", "content": prompt}],
        ) as stream:
            message = stream.get_final_message()
            said = stream.response.headers["x-sim-outcome"]
        (use,) = message.content
        assert isinstance(use, ToolUseBlock) and use.name == "extract"
        assert judge_extraction(schema, EXTRACT.fields, json.dumps(use.input), prompt) == said
