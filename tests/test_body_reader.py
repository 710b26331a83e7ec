"""The pushed body reader (loadtest.body_reader) on aiohttp's real connections: a raw
TCP server on 127.0.0.1 writes each response byte for byte, with pauses where a case
needs the body to come in several reads, and counts the connections it was given.

Each case checks what the request saw and that nothing is left registered afterwards;
the keep-alive cases check the connection came back to the pool (or did not, where it
must not)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import StreamReader

from loadtest import body_reader
from loadtest.body_reader import Stream, read_body
from loadtest.errors import ErrorClass
from loadtest.profile import Target, Timeouts
from loadtest.providers import PARSERS
from loadtest.providers.build import builder
from loadtest.providers.reading import Reading
from loadtest.records import RequestRecord
from loadtest.sse import SSEParser
from loadtest.transport import new_session, send
from loadtest.workload import PromptSource
from loadtest.workload_spec import Lengths, Workload

TIMEOUTS = Timeouts(connect_s=5, ttft_s=10, idle_s=10, total_s=20)
GAP_S = 0.08  # the pause between two parts a case wants read apart


def _chunk(content: str) -> bytes:
    obj = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


STOP = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
USAGE = b'data: {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 3}}\n\n'
DONE = b"data: [DONE]\n\n"
BODY = _chunk("a") + _chunk("b") + _chunk("c") + STOP + USAGE + DONE
ERROR_EVENT = b'data: {"error": {"message": "the model fell over", "type": "server_error"}}\n\n'


def _head(extra: str = "", length: int | None = None) -> bytes:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{framing}\r\n{extra}\r\n"
    ).encode()


def _chunked(*parts: bytes) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in parts]


END = b"0\r\n\r\n"

# path -> the writes of its response, each followed by a pause of GAP_S; "CLOSE" closes
# the connection there.
SCRIPTS: dict[str, list[bytes | str]] = {
    # the whole response, headers and body, in one write
    "/together": [_head() + b"".join(_chunked(BODY)) + END],
    # headers, then one event per write
    "/apart": [
        _head(),
        *_chunked(_chunk("a")),
        *_chunked(_chunk("b")),
        b"".join(_chunked(_chunk("c"), STOP, USAGE, DONE)) + END,
    ],
    # headers with the first event, the rest later
    "/first-with-head": [
        _head() + _chunked(_chunk("a"))[0],
        b"".join(_chunked(_chunk("b"), _chunk("c"), STOP, USAGE, DONE)) + END,
    ],
    "/length": [_head(length=len(BODY)) + BODY[:40], BODY[40:]],
    "/cut-length": [_head(length=len(BODY)) + _chunk("a"), _chunk("b"), "CLOSE"],
    "/cut-chunked": [_head(), *_chunked(_chunk("a")), *_chunked(_chunk("b")), "CLOSE"],
    "/cut-in-head": [b"HTTP/1.1 200 OK\r\nContent-Type: text/ev", "CLOSE"],
    "/error-event": [
        _head(),
        *_chunked(_chunk("a")),
        *_chunked(ERROR_EVENT),
        b"".join(_chunked(_chunk("never read"), DONE)) + END,
    ],
    "/gzip": [
        _head("Content-Encoding: gzip\r\n", length=len(gzip.compress(BODY))),
        gzip.compress(BODY),
    ],
    "/huge": [_head(), *_chunked(b"data: " + b"x" * 5000), b"".join(_chunked(DONE)) + END],
    "/silent": [_head(), *_chunked(_chunk("a")), "WAIT"],
}


class Server:
    """Answers each request on a connection with its path's script; counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self.handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                path = "/" + head.split(b" ")[1].decode().split("/")[1]
                for part in SCRIPTS[path]:
                    if part == "CLOSE":
                        writer.close()
                        return
                    if part == "WAIT":
                        await asyncio.sleep(30)
                    assert isinstance(part, bytes)
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(GAP_S)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()  # a cancel is the test's end: swallowed, or asyncio logs it
        finally:
            self.handlers.discard(task)


@asynccontextmanager
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    session = new_session(TIMEOUTS, connections=4)
    try:
        yield session
    finally:
        await session.close()


def _stream(r: RequestRecord, deadline: asyncio.Timeout, limit: int = 1 << 20) -> Stream:
    return Stream(
        r, Reading(), PARSERS["openai"], SSEParser(limit), time.perf_counter_ns, deadline,
        10.0, asyncio.get_running_loop().time() + 20, 10**9,
    )  # fmt: skip


async def _read(
    session: aiohttp.ClientSession, path: str, server: Server, swap: type | None = None
) -> tuple[RequestRecord, Stream, bool]:
    r = RequestRecord("t", 0)
    async with asyncio.timeout(10) as deadline, session.get(server.url(path)) as resp:
        assert resp.status == 200
        stream = _stream(r, deadline)
        if swap is not None:
            resp.content.__class__ = swap
        pushed = await read_body(resp.content, stream)
        stream.parser.close()
    return r, stream, pushed


def run(coro: Any) -> Any:
    result = asyncio.run(coro)
    assert not body_reader._streams, "a reader was left registered"
    return result


def test_the_pinned_aiohttp_hands_us_its_own_reader_and_the_body_is_pushed() -> None:
    # If this fails, aiohttp's reader changed class: read_body pulls instead (slower,
    # still right); see whether the push can be had again before loosening this.
    async def main() -> tuple[type, RequestRecord, Stream, bool]:
        async with Server() as server, _session() as session:
            async with session.get(server.url("/apart")) as resp:
                kind = type(resp.content)
                await resp.read()
            r, stream, pushed = await _read(session, "/apart", server)
        return kind, r, stream, pushed

    kind, r, stream, pushed = run(main())
    assert kind is StreamReader
    assert pushed
    assert stream.reading.events == 3 and stream.reading.done
    assert len(r.event_ns) == 3 and r.end_ns > 0


def test_each_event_is_stamped_when_its_read_arrives_not_when_the_body_ends() -> None:
    async def main() -> RequestRecord:
        async with Server() as server, _session() as session:
            r, _, _ = await _read(session, "/apart", server)
        return r

    r = run(main())
    gaps = [(b - a) / 1e9 for a, b in zip(r.event_ns, r.event_ns[1:], strict=False)]
    assert r.first_token_ns == r.event_ns[0]
    assert all(g >= GAP_S * 0.8 for g in gaps), gaps
    assert (r.end_ns - r.event_ns[-1]) / 1e9 < GAP_S * 0.8  # the end came with the last


@pytest.mark.parametrize("path", ["/together", "/first-with-head", "/length", "/gzip"])
def test_a_body_is_read_whole_however_it_is_framed_and_cut(path: str) -> None:
    async def main() -> tuple[RequestRecord, Stream]:
        async with Server() as server, _session() as session:
            r, stream, _ = await _read(session, path, server)
        return r, stream

    r, stream = run(main())
    assert stream.reading.events == 3 and stream.reading.done and stream.reading.error is None
    assert stream.reading.usage_output_tokens == 3
    assert len(r.event_ns) == 3


def test_a_reader_of_another_class_is_pulled_with_the_same_result() -> None:
    class Other(StreamReader):
        __slots__ = ()

    async def main() -> tuple[RequestRecord, Stream, bool]:
        async with Server() as server, _session() as session:
            return await _read(session, "/apart", server, swap=Other)

    r, stream, pushed = run(main())
    assert not pushed
    assert stream.reading.events == 3 and stream.reading.done and len(r.event_ns) == 3


@pytest.mark.parametrize("path", ["/cut-length", "/cut-chunked"])
def test_a_connection_lost_inside_the_body_raises_aiohttps_payload_error(path: str) -> None:
    async def main() -> tuple[Stream, BaseException | None]:
        async with Server() as server, _session() as session:
            r = RequestRecord("t", 0)
            async with asyncio.timeout(10) as deadline, session.get(server.url(path)) as resp:
                stream = _stream(r, deadline)
                try:
                    await read_body(resp.content, stream)
                except aiohttp.ClientPayloadError as exc:
                    return stream, exc
        return stream, None

    stream, exc = run(main())
    assert exc is not None, "the cut body ended as if whole"
    assert stream.reading.events >= 1  # what came before the cut was taken


WORK = Workload(input_tokens=Lengths(mean=4), output_tokens=Lengths(mean=4))


def _send(server: Server, session: aiohttp.ClientSession, path: str, **kw: Any) -> Any:
    t = Target("t", "openai", "m", "http://127.0.0.1", "TEST_KEY")
    b = builder(t, WORK, server.url(f"{path}/v1"), env={"TEST_KEY": "test-key"})
    r = RequestRecord("t", 0)
    prompt = PromptSource(WORK, seed=1).prompt(0)
    timeouts = kw.pop("timeouts", TIMEOUTS)
    return r, send(session, b, prompt, PARSERS["openai"], timeouts, r, **kw)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/cut-length", ErrorClass.TRUNCATED),
        ("/cut-chunked", ErrorClass.TRUNCATED),
        ("/cut-in-head", ErrorClass.TRUNCATED),  # connected, then cut: not `connect`
        ("/error-event", ErrorClass.STREAM_ERROR),
    ],
)
def test_send_names_what_ended_a_pushed_body(path: str, error: ErrorClass) -> None:
    async def main() -> tuple[RequestRecord, str]:
        async with Server() as server, _session() as session:
            r, coro = _send(server, session, path)
            return r, await coro

    r, detail = run(main())
    assert r.error is error, detail
    assert r.end_ns >= r.sent_ns > 0


def test_a_whole_body_gives_its_connection_back_and_an_errored_one_does_not() -> None:
    async def main() -> tuple[int, int, list[ErrorClass | None]]:
        async with Server() as server, _session() as session:
            errors = []
            for path in ("/apart", "/first-with-head", "/apart"):
                r, coro = _send(server, session, path)
                await coro
                errors.append(r.error)
            whole = server.connections
            # Each of these ends early on its error event, the rest of its body unread:
            # its connection is dropped, so each next request needs a new one.
            for path in ("/error-event", "/error-event", "/apart"):
                r, coro = _send(server, session, path)
                await coro
                errors.append(r.error)
            return whole, server.connections, errors

    whole, total, errors = run(main())
    assert errors == [None, None, None, ErrorClass.STREAM_ERROR, ErrorClass.STREAM_ERROR, None]
    assert whole == 1  # three requests, one keep-alive connection
    assert total == 3  # the two errored connections were not given back


def test_an_event_over_the_limit_inside_a_push_is_a_protocol_error() -> None:
    async def main() -> tuple[RequestRecord, str]:
        async with Server() as server, _session() as session:
            r, coro = _send(server, session, "/huge", max_event=1024)
            return r, await coro

    r, detail = run(main())
    assert r.error is ErrorClass.PROTOCOL and "1 KiB" in detail, detail


def test_a_server_gone_silent_mid_body_is_an_idle_timeout_and_nothing_stays_registered() -> None:
    async def main() -> tuple[RequestRecord, str, float]:
        async with Server() as server, _session() as session:
            t0 = time.monotonic()
            quick = Timeouts(connect_s=5, ttft_s=5, idle_s=0.5, total_s=20)
            r, coro = _send(server, session, "/silent", timeouts=quick)
            detail = await coro
            return r, detail, time.monotonic() - t0

    r, detail, took = run(main())
    assert r.error is ErrorClass.TIMEOUT_IDLE, detail
    assert len(r.event_ns) == 1
    assert took < 3
