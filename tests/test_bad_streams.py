"""Servers that answer 200 with something other than a bounded event stream: each request
is `protocol`, says what came back, and ends at once, not at a timeout. Real aiohttp
servers on 127.0.0.1, one request per case (a few more on one shared session)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from loadtest.profile import Target, Timeouts, load_profile
from loadtest.providers import PARSERS
from loadtest.providers.build import builder
from loadtest.records import RequestRecord
from loadtest.sse import MAX_EVENT
from loadtest.transport import HttpSender, new_session, send
from loadtest.workload import PromptSource
from loadtest.workload_spec import Lengths, Workload

WORK = Workload(input_tokens=Lengths(mean=8), output_tokens=Lengths(mean=4))
# Far longer than any case may take: a case that ends near one failed to end by itself.
SLOW = Timeouts(connect_s=5, ttft_s=20, idle_s=20, total_s=30)
PROMPT_LIMIT_S = 2.0  # each request, sent to ended
SMALL = 64 * 1024  # the limit most cases run with
SERVER_CAP = 16 << 20  # no endless handler writes more than this, whatever the client does

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
dropped: list[str] = []  # endless handlers whose client went away, by route


def _chunk(content: str, **extra: object) -> bytes:
    obj: dict[str, object] = {"id": "c1", "object": "chat.completion.chunk", "model": "m"}
    obj["choices"] = [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    obj.update(extra)
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


GOOD_STREAM = (
    _chunk("Hel")
    + _chunk("lo")
    + _chunk("", choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    + _chunk("", choices=[], usage={"prompt_tokens": 8, "completion_tokens": 2})
    + b"data: [DONE]\n\n"
)
COMPLETION = {
    "id": "chatcmpl-9",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}],
    "usage": {"prompt_tokens": 8, "completion_tokens": 2},
}
HTML = b"<!doctype html><html><head><title>Sign in</title></head><body>" + b"x" * 5000


def _whole(body: bytes, content_type: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=body, headers={"Content-Type": content_type})

    return handle


def _streamed(content_type: str, parts: Callable[[], AsyncIterator[bytes]], name: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        await resp.prepare(request)
        sent = 0
        try:
            async for part in parts():
                await resp.write(part)
                sent += len(part)
                if sent > SERVER_CAP:
                    break
            await resp.write_eof()
        except (ConnectionError, RuntimeError):  # the client dropped the connection
            dropped.append(name)
        return resp

    return handle


async def _ndjson() -> AsyncIterator[bytes]:
    for word in ("Hel", "lo"):
        yield json.dumps({"model": "m", "message": {"content": word}, "done": False}).encode()
        yield b"\n"
        await asyncio.sleep(0.01)
    yield b'{"model": "m", "done": true}\n'


async def _no_line_end() -> AsyncIterator[bytes]:
    yield b"data: "
    while True:
        yield b"x" * 4096
        await asyncio.sleep(0)


async def _huge_event() -> AsyncIterator[bytes]:
    head = b'data: {"choices": [{"index": 0, "delta": {"content": "'
    body = head + b"y" * (1 << 20) + b'"}}]}\n\n'
    for i in range(0, len(body), 16384):
        yield body[i : i + 16384]
    yield GOOD_STREAM


async def _many_line_event() -> AsyncIterator[bytes]:
    while True:  # data lines with no blank line: one event that never ends
        yield b'data: {"part": "' + b"z" * 1000 + b'"}\n'
        await asyncio.sleep(0)


async def _good() -> AsyncIterator[bytes]:
    for i in range(0, len(GOOD_STREAM), 100):
        yield GOOD_STREAM[i : i + 100]
        await asyncio.sleep(0.002)


ROUTES: dict[str, Handler] = {
    "html": _whole(HTML, "text/html; charset=utf-8"),
    "json": _whole(json.dumps(COMPLETION).encode(), "application/json"),
    "ndjson": _streamed("application/x-ndjson", _ndjson, "ndjson"),
    "plain-empty": _whole(b"", "text/plain"),
    "no-line-end": _streamed("text/event-stream", _no_line_end, "no-line-end"),
    "huge-event": _streamed("text/event-stream", _huge_event, "huge-event"),
    "many-line-event": _streamed("text/event-stream", _many_line_event, "many-line-event"),
    "sse-params": _streamed('text/event-stream;charset=UTF-8; note="a;b"', _good, "sse-params"),
    "sse-capitals": _streamed("Text/Event-Stream; Charset=utf-8", _good, "sse-capitals"),
}

# name, limit, error class (None: completes), what the detail must name
CASES: list[tuple[str, int, str | None, tuple[str, ...]]] = [
    ("html", SMALL, "protocol", ("'text/html; charset=utf-8'", "<!doctype html><html><head>")),
    ("json", SMALL, "protocol", ("'application/json'", '{"id": "chatcmpl-9", "object": ')),
    ("ndjson", SMALL, "protocol", ("'application/x-ndjson'", '{"model": "m", "message": ')),
    ("plain-empty", SMALL, "protocol", ("'text/plain'", "(empty body)")),
    ("no-line-end", SMALL, "protocol", ("line larger than 64 KiB without a line end",)),
    ("no-line-end", MAX_EVENT, "protocol", ("line larger than 1 MiB without a line end",)),
    ("huge-event", SMALL, "protocol", ("line larger than 64 KiB without a line end",)),
    ("many-line-event", SMALL, "protocol", ("event larger than 64 KiB without its end",)),
    ("sse-params", SMALL, None, ()),
    ("sse-capitals", SMALL, None, ()),
    ("huge-event", 2 * MAX_EVENT, None, ()),  # under a raised limit the same stream passes
]


@asynccontextmanager
async def _server() -> AsyncIterator[str]:
    app = web.Application()
    for name, handler in ROUTES.items():
        app.router.add_post(f"/{name}/v1/chat/completions", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _send(
    session: aiohttp.ClientSession, base: str, route: str, limit: int
) -> tuple[RequestRecord, str]:
    t = Target(route, "openai", "m", "http://127.0.0.1", "TEST_KEY")
    b = builder(t, WORK, f"{base}/{route}/v1", env={"TEST_KEY": "test-key"})
    r = RequestRecord(route, intended_ns=0)
    prompt = PromptSource(WORK, seed=1).prompt(0)
    detail = await send(session, b, prompt, PARSERS["openai"], SLOW, r, max_event=limit)
    return r, detail


def _check(r: RequestRecord, detail: str, error: str | None, names: tuple[str, ...]) -> None:
    assert r.error == error, detail
    assert r.status == 200
    for name in names:
        assert name in detail, detail
    assert (r.end_ns - r.sent_ns) / 1e9 < PROMPT_LIMIT_S, detail


@pytest.mark.parametrize(
    ("route", "limit", "error", "names"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_each_misbehaving_server_is_named_and_ends_promptly(
    route: str, limit: int, error: str | None, names: tuple[str, ...]
) -> None:
    async def run() -> tuple[RequestRecord, str]:
        async with _server() as base, new_session(SLOW, 2) as session:
            return await asyncio.wait_for(_send(session, base, route, limit), 10)

    r, detail = asyncio.run(run())
    _check(r, detail, error, names)
    if error is None:
        assert r.output_tokens == 2 and len(r.event_ns) >= 2


def test_one_session_drops_each_bad_connection_and_still_serves_a_good_stream() -> None:
    # Bad answers and good ones in turn on one keep-alive pool: an endless stream's
    # connection must be dropped (its server sees the client leave), never handed back.
    dropped.clear()

    async def run() -> list[tuple[RequestRecord, str]]:
        out = []
        async with _server() as base, new_session(SLOW, 1) as session:
            for route in ("no-line-end", "sse-params", "many-line-event", "json", "sse-params"):
                out.append(await asyncio.wait_for(_send(session, base, route, SMALL), 10))
            t0 = time.monotonic()
            while len(dropped) < 2 and time.monotonic() - t0 < 5:
                await asyncio.sleep(0.01)
        return out

    results = asyncio.run(run())
    assert [r.error for r, _ in results] == ["protocol", None, "protocol", "protocol", None]
    assert sorted(dropped) == ["many-line-event", "no-line-end"]


async def _raw_server(response: bytes) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        await reader.readexactly(length)  # unread, it would make the close a reset
        writer.write(response)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(client, "127.0.0.1", 0)


def test_a_stream_without_any_content_type_is_read_as_an_event_stream() -> None:
    # Lenient on purpose: no header claims nothing (the SDKs read such streams too);
    # only a type that says something else is refused. aiohttp's web server always
    # sends one, so this server writes its answer by hand.
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
    response = head % len(GOOD_STREAM) + GOOD_STREAM

    async def run() -> tuple[RequestRecord, str]:
        server = await _raw_server(response)
        port = server.sockets[0].getsockname()[1]
        try:
            async with new_session(SLOW, 1) as session:
                return await asyncio.wait_for(
                    _send(session, f"http://127.0.0.1:{port}", "bare", SMALL), 10
                )
        finally:
            server.close()

    r, detail = asyncio.run(run())
    _check(r, detail, None, ())
    assert r.output_tokens == 2


def test_the_profile_limit_reaches_the_parser_through_the_sender(tmp_path: Path) -> None:
    async def run() -> list[tuple[RequestRecord, str]]:
        async with _server() as base:
            text = f"""max_event_size = "LIMIT"
[timeouts]
ttft = "20s"
idle = "20s"
total = "30s"
[[targets]]
name = "t"
kind = "openai"
model = "m"
base_url = "{base}/ROUTE/v1"
api_key_env = "TEST_KEY"
"""
            out = []
            for route, limit in (("huge-event", "64KiB"), ("huge-event", "2MiB")):
                path = tmp_path / "p.toml"
                path.write_text(text.replace("ROUTE", route).replace("LIMIT", limit))
                profile = load_profile(path, env={})
                sender = HttpSender(profile, {"t": profile.targets[0].base_url}, {"TEST_KEY": "k"})
                await sender.open()
                try:
                    r = RequestRecord("t", intended_ns=0)
                    prompt = PromptSource(WORK, seed=1).prompt(0)
                    out.append((r, await asyncio.wait_for(sender.send("t", prompt, r), 10)))
                finally:
                    await sender.close()
            return out

    (small, small_detail), (large, large_detail) = asyncio.run(run())
    _check(small, small_detail, "protocol", ("line larger than 64 KiB",))
    _check(large, large_detail, None, ())
