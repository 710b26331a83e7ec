"""An agent task, run as its user's code would run it: call the model, answer each tool
call with the task file's scripted result after the tool's latency, and go on until a
final answer, a wrong turn or `max_steps` model calls.

The engine sees one request per task (its concurrency, rates and error budget count
tasks), stamped so that its metrics mean what they say: TTFT is the first call's, E2E
is the task's wall clock (tools included), the task's model and tool time and its
model calls are metrics of their own, ITL leaves out the gaps between two calls (a
tool ran there, not the model), and TPOT and output speed, which would spread tool time
over tokens, are not recorded for tasks of more than one call. Each turn is judged as
it comes (loadtest.validators on the step's expected call; the final answer against
the task's `final` check); the first wrong turn is the task's outcome.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable

from loadtest.judging import schemas
from loadtest.providers.answer import Answer
from loadtest.providers.tool_shapes import Agentic
from loadtest.records import RequestRecord
from loadtest.tasks import Task
from loadtest.validators import (
    MAX_STEPS,
    OK,
    REFUSAL,
    WRONG_ANSWER,
    WRONG_TOOL,
    ToolCall,
    check_value,
    is_refusal,
    judge_tool_call,
)
from loadtest.workload import Prompt
from loadtest.workload_spec import Lengths

# Sends one model call of PROMPT, filling the record and the answer; returns its detail.
SendCall = Callable[[Prompt, RequestRecord, Answer], Awaitable[str]]
Clock = Callable[[], int]


async def run_task(
    send_call: SendCall,
    agentic: Agentic,
    prompt: Prompt,
    r: RequestRecord,
    tool_latency: Lengths,
    max_steps: int,
    seed: int,
    clock: Clock,
) -> str:
    """Run PROMPT's agent task, stamping R as one request; returns an error detail."""
    task = prompt.task
    assert task is not None
    rng = random.Random(f"{seed}:{prompt.index}")
    messages = list(prompt.messages)
    for step in range(max_steps):
        call = RequestRecord(r.target, intended_ns=r.intended_ns)
        answer = Answer()
        detail = await send_call(
            Prompt(tuple(messages), prompt.max_tokens, task=task), call, answer
        )
        _add(r, call)
        if call.error is not None:
            return detail
        outcome, turn = _judge(task, step, answer)
        if outcome != OK or turn is None:
            r.outcome = outcome
            return ""
        wait_ms = tool_latency.sample(rng) if tool_latency.max else 0
        began = clock()
        if wait_ms:
            await asyncio.sleep(wait_ms / 1000)
        r.tool_wait_ns += clock() - began
        messages += agentic.tool_turn(*turn)
    r.outcome = MAX_STEPS
    return ""


def _judge(task: Task, step: int, answer: Answer) -> tuple[str, tuple[ToolCall, str] | None]:
    """The outcome of turn STEP, and (the call, the tool's scripted result) to go on with."""
    if step < len(task.steps):
        expected = task.steps[step]
        outcome = judge_tool_call(
            expected.expect, schemas(task.tools), answer.calls, answer.text, task.prompt
        )
        if outcome != OK:
            return outcome, None
        return OK, (answer.calls[0], json.dumps(expected.result))
    if answer.calls:
        return WRONG_TOOL, None  # a call more than the task takes
    if is_refusal(answer.text):
        return REFUSAL, None
    return (OK if check_value(answer.text, task.final, task.prompt) else WRONG_ANSWER), None


def _add(task: RequestRecord, call: RequestRecord) -> None:
    """Fold one model CALL into the TASK's record: the first call's start, every call's
    events (where each later call begins kept), tokens and time, the last one's end."""
    if not task.model_calls:
        task.sent_ns = call.sent_ns
        task.first_byte_ns = call.first_byte_ns
        task.first_token_ns = call.first_token_ns
        task.first_output_ns = call.first_output_ns
        task.first_tool_ns = call.first_tool_ns
        task.tool_done_ns = call.tool_done_ns
    elif call.event_ns:
        task.call_starts.append(len(task.event_ns))
    task.model_calls += 1
    task.event_ns.extend(call.event_ns)
    task.last_token_ns = call.last_token_ns or task.last_token_ns
    task.end_ns = call.end_ns
    task.model_wait_ns += call.end_ns - call.sent_ns if call.sent_ns else 0
    task.output_tokens += call.output_tokens
    task.input_tokens += call.input_tokens
    task.cached_tokens += call.cached_tokens
    task.tokens_counted = task.tokens_counted or call.tokens_counted
    task.status = call.status
    task.error = call.error
    task.ratelimit = call.ratelimit or task.ratelimit
    task.sim_time = task.sim_time or call.sim_time
    if call.sim_outcome not in (None, OK) or task.sim_outcome is None:
        task.sim_outcome = call.sim_outcome
