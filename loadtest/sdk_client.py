"""`client = "sdk"`: a target's requests through the official SDK, as agent code makes
them (openai.AsyncOpenAI for the OpenAI kinds, anthropic.AsyncAnthropic for Anthropic),
streaming, with the SDK's own parsing, connection pool and retries in what is measured.

The same request body as the raw path (RequestBuilder), split into the keyword arguments
the SDK's create() takes and `extra_body` for the rest (vLLM's ignore_eos); the same
timestamps at the same points: sent before create() is awaited, first byte when it
returns (the SDK has the response's headers then), and each event when the SDK hands it
over, before loadtest reads it. The SDK's retries stay at its default (2) unless the
target has a loadtest retry policy, which then does the retrying (the SDK's set to 0),
so attempts are not made twice over. One client per target, its pool sized for the load.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import orjson

from loadtest.body_reader import stamp
from loadtest.errors import ErrorClass, classify_status
from loadtest.profile import Target, Timeouts
from loadtest.providers.answer import Answer
from loadtest.providers.anthropic import DELTA_FIELDS
from loadtest.providers.build import RequestBuilder
from loadtest.providers.openai_responses import TOKEN_EVENTS
from loadtest.providers.reading import Reading
from loadtest.records import RequestRecord
from loadtest.transport import finish, ratelimit_headers
from loadtest.workload import Prompt

Clock = Callable[[], int]
SDK_RETRIES = 2  # both SDKs' default


class SdkClient:
    """One target's SDK client and the reader of its events."""

    def __init__(
        self,
        t: Target,
        b: RequestBuilder,
        key: str,
        timeouts: Timeouts,
        connections: int,
        clock: Clock,
    ) -> None:
        import httpx2  # the SDKs' own HTTP client, imported only where SDK mode is used

        self.b, self.timeouts, self.clock = b, timeouts, clock
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        timeout = httpx2.Timeout(timeouts.total_s, connect=timeouts.connect_s, read=timeouts.idle_s)
        self.http = httpx2.AsyncClient(limits=limits, timeout=timeout)
        base = b.url[: -len(b.provider.path)]
        own = {"content-type", "accept", "authorization", "x-api-key", "anthropic-version"}
        extra = {k: v for k, v in b.headers.items() if k.lower() not in own}
        retries = 0 if t.retry.active else SDK_RETRIES
        self.client: Any
        if t.kind == "anthropic":
            import anthropic

            self.client = anthropic.AsyncAnthropic(
                api_key=key,
                base_url=base,
                http_client=self.http,
                max_retries=retries,
                default_headers=extra,
            )
            self.create = self.client.messages.create
            self.read: Callable[[Any, Reading], None] = _read_anthropic
        else:
            import openai

            self.client = openai.AsyncOpenAI(
                api_key=key or "none",
                base_url=base,
                http_client=self.http,
                max_retries=retries,
                default_headers=extra,
            )
            if t.kind == "openai-responses":
                self.create, self.read = self.client.responses.create, _read_responses
            else:
                self.create, self.read = self.client.chat.completions.create, _read_chat
        params = inspect.signature(self.create).parameters
        self.known = {
            p for p in params if p not in ("self", "timeout") and not p.startswith("extra_")
        }

    async def close(self) -> None:
        """Close the client and its connections."""
        await self.client.close()

    async def send(self, prompt: Prompt, r: RequestRecord, answer: Answer | None = None) -> str:
        """One streamed request through the SDK, filling R; the error detail ("" if none)."""
        body = orjson.loads(self.b.body(prompt))
        body.pop("stream", None)
        kwargs = {k: v for k, v in body.items() if k in self.known}
        extra = {k: v for k, v in body.items() if k not in self.known}
        reading = Reading()
        if prompt.task is not None:
            reading.answer = Answer() if answer is None else answer
        try:
            async with asyncio.timeout(self.timeouts.ttft_s) as deadline:
                r.sent_ns = self.clock()
                stream = await self.create(**kwargs, stream=True, extra_body=extra or None)
                r.first_byte_ns = self.clock()
                r.status = 200
                headers = getattr(getattr(stream, "response", None), "headers", None) or {}
                r.ratelimit = ratelimit_headers(headers)
                r.sim_time = headers.get("x-sim-time")
                if reading.answer is not None:
                    r.sim_outcome = headers.get("x-sim-outcome")
                loop = asyncio.get_running_loop()
                total_at = loop.time() + self.timeouts.total_s
                async for event in stream:
                    now = self.clock()
                    before, tools = reading.events, reading.tool_events
                    self.read(event, reading)
                    if reading.events != before:
                        stamp(r, reading, before, tools, now)
                        deadline.reschedule(min(loop.time() + self.timeouts.idle_s, total_at))
                r.end_ns = self.clock()
        except TimeoutError:
            r.end_ns = self.clock()
            r.error = ErrorClass.TIMEOUT_TTFT if not r.first_token_ns else ErrorClass.TIMEOUT_IDLE
            return "no first token in time" if not r.first_token_ns else "no data in time"
        except Exception as exc:  # the SDK's own errors, mapped as the raw path maps aiohttp's
            r.end_ns = self.clock()
            status = getattr(exc, "status_code", None)
            if isinstance(status, int):
                r.status = status
                r.error = classify_status(status)
                return f"HTTP {status}: {str(exc)[:200]}"
            name = type(exc).__name__
            r.error = ErrorClass.CONNECT if not r.first_byte_ns else ErrorClass.TRUNCATED
            if "Timeout" in name:
                r.error = (
                    ErrorClass.TIMEOUT_TTFT if not r.first_token_ns else ErrorClass.TIMEOUT_IDLE
                )
            return f"{name}: {str(exc)[:160]}"
        return finish(r, reading, prompt)


def _read_chat(chunk: Any, r: Reading) -> None:
    for choice in chunk.choices or ():
        d = choice.delta
        if d is not None:
            calls = d.tool_calls or ()
            extra = d.model_extra or {}
            thinking = extra.get("reasoning_content") or extra.get("reasoning")
            if d.content:
                r.events += 1
            elif any(c.function and c.function.arguments for c in calls):
                r.events += 1
                r.tool_events += 1
            elif thinking:
                r.events += 1
                r.reasoning_events += 1
            if r.answer is not None:
                if d.content:
                    r.answer.parts.append(d.content)
                for c in calls:
                    fn = c.function
                    r.answer.start(c.index, c.id, fn.name if fn else None)
                    if fn and fn.arguments:
                        r.answer.arguments(c.index, fn.arguments)
        if choice.finish_reason:
            r.finish_reason = choice.finish_reason
    usage = chunk.usage
    if usage is not None:
        r.usage_output_tokens = usage.completion_tokens
        r.usage_input_tokens = usage.prompt_tokens
        details = usage.prompt_tokens_details
        r.usage_cached_tokens = (details.cached_tokens or 0) if details else 0
    r.done = r.done or r.finish_reason is not None


def _read_responses(event: Any, r: Reading) -> None:
    kind = event.type
    reasoning = TOKEN_EVENTS.get(kind)
    if reasoning is not None and getattr(event, "delta", None):
        r.events += 1
        r.reasoning_events += reasoning
        r.tool_events += kind == "response.function_call_arguments.delta"
        if r.answer is not None:
            if kind == "response.output_text.delta":
                r.answer.parts.append(event.delta)
            elif kind == "response.function_call_arguments.delta":
                r.answer.arguments(event.output_index, event.delta)
    elif kind == "response.output_item.added" and r.answer is not None:
        item = event.item
        if item.type == "function_call":
            r.answer.start(event.output_index, item.call_id, item.name)
    elif kind in ("response.completed", "response.incomplete"):
        usage = event.response.usage
        if usage is not None:
            r.usage_output_tokens, r.usage_input_tokens = usage.output_tokens, usage.input_tokens
            details = usage.input_tokens_details
            r.usage_cached_tokens = (details.cached_tokens or 0) if details else 0
        details = event.response.incomplete_details
        r.finish_reason = (details.reason if details else None) or kind.rpartition(".")[2]
        r.done = True
    elif kind in ("error", "response.failed"):
        r.fail(ErrorClass.STREAM_ERROR, str(getattr(event, "message", kind)))


def _read_anthropic(event: Any, r: Reading) -> None:
    kind = event.type
    if kind == "content_block_delta":
        d = event.delta
        field = DELTA_FIELDS.get(d.type)
        value = getattr(d, field[0], None) if field else None
        if value:
            r.events += 1
            r.reasoning_events += d.type == "thinking_delta"
            r.tool_events += d.type == "input_json_delta"
            if r.answer is not None:
                if d.type == "text_delta":
                    r.answer.parts.append(value)
                elif d.type == "input_json_delta":
                    r.answer.arguments(event.index, value)
    elif kind == "content_block_start" and r.answer is not None:
        block = event.content_block
        if block.type == "tool_use":
            r.answer.start(event.index, block.id, block.name)
    elif kind == "message_start":
        usage = event.message.usage
        cached = usage.cache_read_input_tokens or 0  # counted apart, as the raw reader adds
        r.usage_input_tokens = usage.input_tokens + cached
        r.usage_cached_tokens = cached
    elif kind == "message_delta":
        r.usage_output_tokens = event.usage.output_tokens
        if event.delta.stop_reason:
            r.finish_reason = event.delta.stop_reason
    elif kind == "message_stop":
        r.done = True
