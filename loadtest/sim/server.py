"""The simulator's aiohttp app: routes, admission (auth, model, limits, faults), responses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.http import HttpVersion11

from loadtest.instants import format_instant
from loadtest.sim import wire_anthropic, wire_chat, wire_responses
from loadtest.sim.behaviour import UNSCRIPTED
from loadtest.sim.capacity import CapacityGate
from loadtest.sim.config import SimConfig
from loadtest.sim.faults import choose
from loadtest.sim.metrics import (
    E2E,
    QUEUE,
    RUNNING,
    SUCCESS,
    TTFT,
    WAITING,
    ModelStats,
    SimMetrics,
    local_block,
)
from loadtest.sim.plan import Plan, gap_params, make_plan
from loadtest.sim.presets import Preset
from loadtest.sim.ratelimit import Admission, RateLimiter, anthropic_headers, openai_headers
from loadtest.sim.requests import CHAT, MESSAGES, RESPONSES, BadRequest, SimRequest, parse
from loadtest.sim.scripted import Answer, script
from loadtest.sim.stream import COMPLETE, DROPPED, Encoder, StreamJob, Ticker
from loadtest.sim.taskbook import TaskBook
from loadtest.sim.timeofday import SimClock, conditions_at

# OpenAI's error "type" (and "code") by status; Anthropic's live in wire_anthropic.
_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("tokens", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


class SimState:
    """Per-worker mutable state: clock, timer, rate-limit buckets, capacity gates, counters,
    and the known tasks (read at start, so no request waits for them)."""

    def __init__(
        self,
        cfg: SimConfig,
        worker: int,
        anchor_wall_s: float,
        block: object = None,
        workers: int = 1,
    ) -> None:
        self.cfg = cfg
        self.table = cfg.table()
        models = self.table.names()
        if block is None:
            block, workers, worker_row = local_block(len(models)), 1, 0
        else:
            worker_row = worker
        self.metrics = SimMetrics(models, block, worker_row, workers)
        self.book = TaskBook.load(cfg.task_files)
        self.worker = worker
        self.anchor_wall_s = anchor_wall_s
        start = cfg.sim_start or datetime.fromtimestamp(anchor_wall_s, UTC)
        self.clock = SimClock(anchor_wall_s, start, cfg.time_warp)
        self.ticker = Ticker()
        self.limiters: dict[str, RateLimiter] = {}
        self.gates: dict[str, CapacityGate] = {}
        self.seq = 0
        # Scripted answers are drawn per model, so a seed gives one model the same answers
        # in the same order whatever else the simulator serves beside it.
        self.answered: dict[str, int] = {}
        # Read once; never logged, never echoed in a response.
        self.api_key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""

    def limiter(self, p: Preset, now_s: float) -> RateLimiter:
        """The rate limiter of preset P (created on first use)."""
        lim = self.limiters.get(p.name)
        if lim is None:
            lim = self.limiters[p.name] = RateLimiter(p.limits, now_s)
        return lim

    def gate(self, p: Preset) -> CapacityGate | None:
        """The capacity gate of preset P, when it models a self-hosted server."""
        if p.capacity is None:
            return None
        g = self.gates.get(p.name)
        if g is None:
            g = self.gates[p.name] = CapacityGate(p.capacity)
        return g


STATE = web.AppKey("state", SimState)


@dataclass(frozen=True)
class Admitted:
    """A request past every check, with the response decided: what the responders need."""

    api: str
    req: SimRequest
    plan: Plan
    gap: tuple[float, float]  # (mu, sigma) of the log-normal inter-token gap
    rng: random.Random
    gate: CapacityGate | None
    ids: str
    headers: dict[str, str]
    arrived_ns: int  # perf_counter_ns when the request came in
    stats: ModelStats | None  # its model's /metrics counters


def error_response(
    api: str,
    status: int,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in the provider's own JSON shape."""
    if api == MESSAGES:
        body = wire_anthropic.error_body(status, message)
    else:
        kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
        body = wire_chat.error_body(kind, message, param, code)
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def _presented_key(request: web.Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key", "")


def _rate_headers(api: str, a: Admission, wall_s: float) -> dict[str, str]:
    return anthropic_headers(a, wall_s) if api == MESSAGES else openai_headers(a)


async def _handle(request: web.Request, api: str) -> web.StreamResponse:
    st = request.app[STATE]
    arrived_ns = time.perf_counter_ns()
    raw = await request.read()
    wall = time.time()
    st.seq += 1
    ids = f"sim{st.worker}x{st.seq:08d}"
    headers = {
        "x-request-id": ids,
        "request-id": f"req_{ids}",
        "x-sim-time": format_instant(st.clock.at(wall)),
    }
    try:
        req = parse(api, raw)
    except BadRequest as exc:
        return error_response(api, 400, exc.message, exc.param, headers)
    if st.api_key and not hmac.compare_digest(_presented_key(request), st.api_key):
        return error_response(api, 401, "Incorrect API key provided.", None, headers)
    preset = st.table.resolve(req.model, st.cfg.strict_models)
    if preset is None:
        return error_response(
            api,
            404,
            f"The model `{req.model}` does not exist or you do not have access to it.",
            "model",
            headers,
        )
    if preset.prompt_token_scale != 1.0:  # a tokenizer that counts other than chars / 4
        req = dataclasses.replace(
            req, input_tokens=max(1, round(req.input_tokens * preset.prompt_token_scale))
        )
    charge = req.input_tokens + (req.max_tokens or preset.max_output_tokens)
    admission = st.limiter(preset, time.monotonic()).admit(charge, time.monotonic())
    headers.update(_rate_headers(api, admission, wall))
    if not admission.allowed:
        return error_response(
            api,
            429,
            f"Rate limit reached for {req.model} on "
            f"{admission.limited_by}. Please try again in "
            f"{admission.retry_after_s:.3f}s.",
            None,
            headers,
        )
    rng = random.Random(f"{st.cfg.seed}:{st.worker}:{st.seq}")
    cond = conditions_at(preset.diurnal, preset.incidents, st.clock.at(wall))
    answer = _scripted(st, preset, req, headers) if req.tools or req.response_schema else None
    if answer is None:
        headers.setdefault("x-sim-outcome", UNSCRIPTED)
    plan = make_plan(preset, req, cond, rng, ids, answer)
    fault = choose(preset.faults, rng, wall - st.anchor_wall_s, plan.events)
    plan = dataclasses.replace(plan, fault=fault)
    if fault is not None:
        headers["x-sim-fault"] = (
            fault.kind if fault.at_token is None else (f"{fault.kind}@{fault.at_token}")
        )
    if fault is not None and fault.kind == "http_500":
        return error_response(
            api, 500, "The server had an error while processing your request.", None, headers
        )
    if fault is not None and fault.kind == "overloaded":
        return error_response(
            api,
            529 if api == MESSAGES else 503,
            "Overloaded"
            if api == MESSAGES
            else "The engine is currently overloaded, please try again later.",
            None,
            headers,
        )
    headers["x-sim-ttft-ms"] = f"{plan.ttft_s * 1000:.3f}"
    headers["x-sim-output-tokens"] = str(plan.output_tokens)
    gate = st.gate(preset)
    stats = st.metrics.of(preset.name)
    if gate is not None:
        if stats is not None:
            stats.add(WAITING, 1)
        try:
            await gate.acquire()
        finally:
            if stats is not None:
                stats.add(WAITING, -1)
    if stats is not None:
        stats.observe(QUEUE, (time.perf_counter_ns() - arrived_ns) / 1e9)
        stats.add(RUNNING, 1)
    admitted = Admitted(
        api, req, plan, gap_params(preset, cond), rng, gate, ids, headers, arrived_ns, stats
    )
    try:
        if req.stream:
            return await _respond_stream(request, admitted)  # releases the gate when done
        try:
            return await _respond_whole(request, admitted)
        finally:
            if gate is not None:
                gate.release()
    finally:
        if stats is not None:
            stats.add(RUNNING, -1)


def _scripted(
    st: SimState, preset: Preset, req: SimRequest, headers: dict[str, str]
) -> Answer | None:
    """The scripted answer to a known task (None: answer as today), announced in HEADERS.

    Drawn from an rng of its own, so a scripted answer leaves every latency draw of its
    request as it would be without one, keyed by the model's own count of answers.
    """
    n = st.answered[req.model] = st.answered.get(req.model, 0) + 1
    rng = random.Random(f"{st.cfg.seed}:{st.worker}:{req.model}:{n}:task")
    s = script(st.book, preset.agent, req, rng)
    if s is None:
        return None
    headers["x-sim-outcome"] = s.outcome
    headers["x-sim-task"] = s.task
    if s.step is not None:
        headers["x-sim-step"] = str(s.step)
    return s.answer


def _encoder(api: str, req: SimRequest, plan: Plan, ids: str, created: int) -> Encoder:
    if api == CHAT:
        return wire_chat.ChatEncoder(plan, req.model, ids, created, req.include_usage)
    if api == RESPONSES:
        return wire_responses.ResponsesEncoder(plan, req.model, ids, created)
    return wire_anthropic.MessagesEncoder(plan, req.model, ids)


async def _respond_stream(request: web.Request, a: Admitted) -> web.StreamResponse:
    st = request.app[STATE]
    start_ns = time.perf_counter_ns()
    resp = web.StreamResponse(status=200, headers=a.headers)
    resp.content_type = "text/event-stream"
    resp.headers["cache-control"] = "no-cache"
    chunked = request.version >= HttpVersion11
    if chunked:
        resp.enable_chunked_encoding()
    try:
        await resp.prepare(request)
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError
    except BaseException as exc:
        if a.gate is not None:  # the stream never started, so it cannot release the slot
            a.gate.release()
        if isinstance(exc, ConnectionError):  # the client left before the headers went out
            return resp
        raise
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    enc = _encoder(a.api, a.req, a.plan, a.ids, int(time.time()))
    job = StreamJob(
        transport,
        chunked,
        enc,
        a.plan,
        a.gap,
        a.rng,
        a.gate,
        start_ns,
        st.cfg.ping_interval_s,
        done,
        a.stats,
        a.arrived_ns,
    )
    st.ticker.add(job)
    how = await done
    if how == COMPLETE and a.stats is not None:
        a.stats.observe(E2E, (time.perf_counter_ns() - a.arrived_ns) / 1e9)
        a.stats.add(SUCCESS, 1)
    if how == DROPPED:
        # The socket is closed; aiohttp's own write_eof then fails with a ConnectionError,
        # which it treats as a client disconnect (quietly), so just hand the response back.
        return resp
    # After an error event (CUT) the HTTP response still ends cleanly and the connection
    # stays open, as the providers do; closing it made clients that reuse pooled
    # connections fail their next request, counted as a disconnect it was not.
    with contextlib.suppress(ConnectionError):  # the client left after the last event
        await resp.write_eof()
    return resp


async def _respond_whole(request: web.Request, a: Admitted) -> web.StreamResponse:
    mu, sigma = a.gap
    factor = a.gate.gap_factor() if a.gate is not None else 1.0
    # As long as the stream would take to its last event (its last token).
    total = (
        a.plan.ttft_s
        + sum(a.rng.lognormvariate(mu, sigma) for _ in range(a.plan.gap_tokens)) * factor
    )
    fault = a.plan.fault
    if fault is not None and fault.kind == "stall":
        total += fault.stall_s
    await asyncio.sleep(total)
    created = int(time.time())
    if fault is not None and fault.kind == "stream_error":
        return error_response(
            a.api, 500, "The server had an error while processing your request.", None, a.headers
        )
    if fault is not None and fault.kind == "disconnect":
        if request.transport is not None:
            request.transport.close()  # aiohttp sees a client disconnect and stays quiet
        return web.Response(status=200)
    if a.api == CHAT:
        body = wire_chat.body(a.plan, a.req.model, a.ids, created)
    elif a.api == RESPONSES:
        body = wire_responses.body(a.plan, a.req.model, a.ids, created)
    else:
        body = wire_anthropic.body(a.plan, a.req.model, a.ids)
    if fault is not None and fault.kind == "malformed":
        body = body[: len(body) // 2]
    elif a.stats is not None:  # its first token came when a stream's would have
        a.stats.observe(TTFT, a.plan.ttft_s + (time.perf_counter_ns() - a.arrived_ns) / 1e9 - total)
        a.stats.observe(E2E, (time.perf_counter_ns() - a.arrived_ns) / 1e9)
        a.stats.add(SUCCESS, 1)
    return web.Response(body=body, content_type="application/json", headers=a.headers)


async def _models(request: web.Request) -> web.Response:
    st = request.app[STATE]
    created = int(st.anchor_wall_s)
    if "anthropic-version" in request.headers:
        data = [
            {"type": "model", "id": n, "display_name": n, "created_at": "2024-10-22T00:00:00Z"}
            for n in st.table.names()
        ]
        return web.json_response(
            {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
        )
    data2 = [
        {"id": n, "object": "model", "created": created, "owned_by": p.provider}
        for n, p in st.table.presets.items()
    ]
    return web.json_response({"object": "list", "data": data2})


async def _info(request: web.Request) -> web.Response:
    st = request.app[STATE]
    return web.json_response(
        {
            "worker": st.worker,
            "pid": os.getpid(),
            "seed": st.cfg.seed,
            "time_warp": st.cfg.time_warp,
            "sim_time": format_instant(st.clock.at(time.time())),
            "presets": st.table.names(),
            "active_streams": len(st.ticker),
            "requests": st.seq,
            "timer": st.ticker.stats(),
        }
    )


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[STATE].metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def make_app(
    cfg: SimConfig,
    worker: int = 0,
    anchor_wall_s: float | None = None,
    block: object = None,
    workers: int = 1,
) -> web.Application:
    """The simulator app for one worker process; BLOCK: the /metrics counters shared by
    WORKERS processes (loadtest.sim.metrics), this worker's own when None."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    anchor = time.time() if anchor_wall_s is None else anchor_wall_s
    app[STATE] = SimState(cfg, worker, anchor, block, workers)

    async def chat(r: web.Request) -> web.StreamResponse:
        return await _handle(r, CHAT)

    async def responses(r: web.Request) -> web.StreamResponse:
        return await _handle(r, RESPONSES)

    async def messages(r: web.Request) -> web.StreamResponse:
        return await _handle(r, MESSAGES)

    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/sim/info", _info)
    app.router.add_get("/metrics", _metrics)
    return app
