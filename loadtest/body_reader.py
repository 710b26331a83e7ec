"""The body of one streaming response, taken as it arrives: aiohttp's payload reader
turned from pull to push.

aiohttp's C parser hands each piece of a body to a `StreamReader` it builds itself (no
hook to give it another), and reading it back with `await readany()` costs, on every
network read, the reader's buffer bookkeeping, a future, and a wakeup of the request's
task: about half of the client's CPU on a token-by-token stream (py-spy, 2026-12-02).
So once the headers are in, the reader's class is swapped for `_Pushed`, a subclass that
adds no slots (Python allows the swap only then) and whose `feed_data` hands each piece
straight to the request's `Stream`, inside the protocol's `data_received`: it is stamped
there, with no scheduling delay between the read and its timestamp, and the request's
task wakes once, at the end of the body. aiohttp keeps what it is good at: connections,
TLS, chunked decoding, decompression (its decoder feeds the same reader) and the
keep-alive pool (the end of the body still runs the reader's own `feed_eof`, which
gives the connection back).

A reader of another class (a future aiohttp's) is read the old way, with the same
`Stream`; `tests/test_body_reader.py` fails if the aiohttp we pin stops taking the push.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import repeat as _repeat
from typing import Any

from aiohttp import StreamReader

from loadtest.providers.base import EventParser
from loadtest.providers.reading import Reading
from loadtest.records import RequestRecord
from loadtest.sse import SSEParser


def stamp(r: RequestRecord, reading: Reading, before: int, tools: int, now: int) -> None:
    """Stamp in R the content events a read added to READING (it had BEFORE events and
    TOOLS tool events), all at NOW: the one place events become timestamps, for the
    raw path and the SDK path alike."""
    n = reading.events - before
    if not n:
        return
    if not r.first_token_ns:
        r.first_token_ns = now
    if not r.first_output_ns and reading.events > reading.reasoning_events:
        r.first_output_ns = now
    if n == 1:
        r.event_ns.append(now)
    else:
        r.event_ns.extend(_repeat(now, n))
    if reading.tool_events != tools:
        if not r.first_tool_ns:
            r.first_tool_ns = now
        r.tool_done_ns = now


class Stream:
    """One response's body as it comes: SSE events parsed by the provider's reader into
    READING, every content event stamped in R, the idle deadline moved as data comes."""

    __slots__ = (
        "_clock",
        "_deadline",
        "_idle",
        "_loop",
        "_parse",
        "_recheck_ns",
        "_step_ns",
        "_total_at",
        "done",
        "over",
        "parser",
        "r",
        "reading",
    )

    def __init__(
        self,
        r: RequestRecord,
        reading: Reading,
        parse: EventParser,
        parser: SSEParser,
        clock: Callable[[], int],
        deadline: asyncio.Timeout,
        idle_s: float,
        total_at: float,
        step_ns: int,
    ) -> None:
        self.r = r
        self.reading = reading
        self.parser = parser
        self.over = False  # the reader met an error: the rest of the body is not wanted
        self.done: asyncio.Future[None] | None = None  # set by push reading at its end
        self._parse = parse
        self._clock = clock
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self._idle = idle_s
        self._total_at = total_at
        self._step_ns = step_ns
        self._recheck_ns = 0  # when the idle deadline is next moved forward

    def feed(self, chunk: bytes) -> None:
        """One network read's bytes. Raises EventTooLarge from the SSE parser."""
        now = self._clock()
        r = self.r
        if self._recheck_ns and now >= self._recheck_ns:
            self._deadline.reschedule(min(self._loop.time() + self._idle, self._total_at))
            self._recheck_ns = now + self._step_ns
        events = self.parser.feed(chunk)
        if not events:
            return
        # Every event of one read shares its timestamp: one parse call per read.
        reading = self.reading
        before, tools = reading.events, reading.tool_events
        self._parse(events, reading)
        if reading.events != before and not r.first_token_ns:
            self._deadline.reschedule(min(self._loop.time() + self._idle, self._total_at))
            self._recheck_ns = now + self._step_ns
        stamp(r, reading, before, tools, now)
        if reading.error is not None:
            self.over = True  # the connection is dropped, not reused; fine after an error

    def push(self, chunk: bytes) -> None:
        """FEED from inside the protocol: nothing may escape into aiohttp's parser, so an
        exception ends the request with it (send() names it)."""
        done = self.done
        if done is None or done.done():
            return  # read past the end we wanted: the connection is being dropped
        try:
            self.feed(chunk)
        except Exception as exc:
            done.set_exception(exc)
            return
        if self.over:
            done.set_result(None)

    def end(self, exc: BaseException | None) -> None:
        """The body ended (EXC: how the connection failed it)."""
        done = self.done
        if done is None or done.done():
            return
        if exc is None:
            self.r.end_ns = self._clock()
            done.set_result(None)
        else:
            done.set_exception(exc)


_streams: dict[StreamReader, Stream] = {}  # the readers being pushed, while they are


class _Pushed(StreamReader):
    """aiohttp's reader whose pieces go to their Stream instead of its buffer."""

    __slots__ = ()

    def feed_data(self, data: bytes, size: int = 0) -> bool:
        stream = _streams.get(self)
        if stream is not None and data:
            stream.push(data)
        return False  # aiohttp's own: "the reader asked to pause"; nothing is held here

    def feed_eof(self) -> None:
        super().feed_eof()  # its end-of-body callbacks give the connection back
        stream = _streams.get(self)
        if stream is not None:
            stream.end(None)

    def set_exception(self, exc: BaseException, *cause: Any) -> None:
        super().set_exception(exc, *cause)
        stream = _streams.get(self)
        if stream is not None:
            stream.end(exc)


async def read_body(content: StreamReader, stream: Stream) -> bool:
    """Give STREAM the whole body of CONTENT, or until STREAM is over; raises what the
    connection or the stream raised. True when it was pushed, False when pulled."""
    if type(content) is not StreamReader:
        read = content.readany
        while chunk := await read():
            stream.feed(chunk)
            if stream.over:
                break
        return False
    if content._buffer:  # what came in the read that held the headers
        stream.feed(content.read_nowait(-1))
        if stream.over:
            return True
    exc = content.exception()
    if exc is not None:
        raise exc
    if content.is_eof():
        return True
    done = stream.done = asyncio.get_running_loop().create_future()
    content.__class__ = _Pushed
    _streams[content] = stream
    try:
        await done
    finally:
        del _streams[content]
    return True
