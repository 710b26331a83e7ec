"""The incremental SSE parser: spec cases, every way of splitting reads, end of stream."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from loadtest.sse import MAX_EVENT, Event, EventTooLarge, SSEParser

M = b"message"

CASES = [
    ("one event", b"data: hello\n\n", [Event(M, b"hello", b"")]),
    ("no space after colon", b"data:hello\n\n", [Event(M, b"hello", b"")]),
    ("only one space is removed", b"data:  two\n\n", [Event(M, b" two", b"")]),
    ("CRLF", b"data: a\r\n\r\n", [Event(M, b"a", b"")]),
    ("lone CR", b"data: a\r\rdata: b\r\r", [Event(M, b"a", b""), Event(M, b"b", b"")]),
    ("mixed endings", b"data: a\r\ndata: b\n\r\n", [Event(M, b"a\nb", b"")]),
    ("multi-line data", b"data: {\ndata: }\n\n", [Event(M, b"{\n}", b"")]),
    ("comment is ignored", b": keep-alive\ndata: x\n\n", [Event(M, b"x", b"")]),
    ("comment alone dispatches nothing", b": ping\n\n", []),
    (
        "event type",
        b"event: content_block_delta\ndata: {}\n\n",
        [Event(b"content_block_delta", b"{}", b"")],
    ),
    (
        "event type resets after dispatch",
        b"event: a\ndata: 1\n\ndata: 2\n\n",
        [Event(b"a", b"1", b""), Event(M, b"2", b"")],
    ),
    ("event without data is not dispatched", b"event: ping\n\ndata: x\n\n", [Event(M, b"x", b"")]),
    ("field without colon", b"data\n\n", [Event(M, b"", b"")]),
    ("empty data line", b"data:\n\n", [Event(M, b"", b"")]),
    ("id persists", b"id: 7\ndata: a\n\ndata: b\n\n", [Event(M, b"a", b"7"), Event(M, b"b", b"7")]),
    ("id with NUL is ignored", b"id: 1\x002\ndata: a\n\n", [Event(M, b"a", b"")]),
    (
        "retry and unknown fields are ignored",
        b"retry: 10\nfoo: bar\ndata: a\n\n",
        [Event(M, b"a", b"")],
    ),
    ("BOM at start", b"\xef\xbb\xbfdata: a\n\n", [Event(M, b"a", b"")]),
    (
        "OpenAI done",
        b'data: {"x":1}\n\ndata: [DONE]\n\n',
        [Event(M, b'{"x":1}', b""), Event(M, b"[DONE]", b"")],
    ),
    ("colon inside value", b"data: a: b\n\n", [Event(M, b"a: b", b"")]),
]


@pytest.mark.parametrize(("name", "stream", "events"), CASES, ids=[c[0] for c in CASES])
def test_spec_cases(name: str, stream: bytes, events: list[Event]) -> None:
    p = SSEParser()
    assert p.feed(stream) + p.close() == events
    assert not p.truncated


@pytest.mark.parametrize(("name", "stream", "events"), CASES, ids=[c[0] for c in CASES])
def test_every_split_into_two_reads_gives_the_same_events(
    name: str, stream: bytes, events: list[Event]
) -> None:
    for cut in range(len(stream) + 1):
        p = SSEParser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) + p.close() == events, cut


def test_byte_by_byte_and_random_splits_of_a_long_stream() -> None:
    body = b"".join(
        b'event: e%d\r\ndata: {"i": %d}\r\ndata: more\r\n: c\r\n\r\n' % (i % 3, i)
        for i in range(200)
    )
    expected = [Event(b"e%d" % (i % 3), b'{"i": %d}\nmore' % i, b"") for i in range(200)]
    p = SSEParser()
    assert [e for b in body for e in p.feed(bytes([b]))] == expected
    rng = random.Random(1)
    for _ in range(50):
        p = SSEParser()
        got: list[Event] = []
        i = 0
        while i < len(body):
            n = rng.randint(1, 300)
            got += p.feed(body[i : i + n])
            i += n
        assert got == expected


@pytest.mark.parametrize(
    ("stream", "events", "truncated"),
    [
        (b"data: a\n\ndata: b\n", [Event(M, b"a", b"")], True),  # no blank line after b
        (b"data: a\n\ndata: b", [Event(M, b"a", b"")], True),  # cut mid-line
        (b"data: a\n\n", [Event(M, b"a", b"")], False),
        (b"data: a\r\r", [Event(M, b"a", b"")], False),  # the final CR ends the stream cleanly
        (b"data: a\n\r", [Event(M, b"a", b"")], False),
        (b": only a comment\n", [], False),
    ],
)
def test_end_of_stream(stream: bytes, events: list[Event], truncated: bool) -> None:
    p = SSEParser()
    assert p.feed(stream) + p.close() == events
    assert p.truncated is truncated


def test_empty_reads_change_nothing() -> None:
    p = SSEParser()
    assert p.feed(b"") == []
    assert p.feed(b"\xef\xbb\xbfdata: a\n") == []
    assert p.feed(b"") == []
    assert p.feed(b"\n") == [Event(M, b"a", b"")]


def test_bulk_and_general_events_mixed_in_one_read_keep_their_order_and_ids() -> None:
    # One-line data events take the fast path; the others go line by line. Mixed in one
    # read, and split anywhere, they must come out the same, ids carried across both.
    parts = []
    expected = []
    for i in range(60):
        if i % 5 == 0:
            parts.append(b"id: %d\ndata: {\ndata: %d}\n\n\n" % (i, i))
            expected.append(Event(M, b"{\n%d}" % i, b"%d" % i))
        elif i % 7 == 0:
            parts.append(b": ping\r\n\r\n")
        else:
            parts.append(b'data: {"i":%d}\n\n' % i)
            expected.append(Event(M, b'{"i":%d}' % i, b"%d" % (i - i % 5)))
    body = b"".join(parts)
    p = SSEParser()
    assert p.feed(body) + p.close() == expected and not p.truncated
    rng = random.Random(2)
    for _ in range(30):
        p = SSEParser()
        got: list[Event] = []
        i = 0
        while i < len(body):
            n = rng.randint(1, 64)
            got += p.feed(body[i : i + n])
            i += n
        assert got + p.close() == expected and not p.truncated


def _pieces(data: bytes, n: int) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)]


def test_a_long_line_in_many_reads_costs_linear_work() -> None:
    # Work counted as the bytes each read allocates (deterministic, unlike a clock):
    # re-joining the pending line on every read allocated ~115x the line for 900 KiB in
    # 4 KiB reads (quadratic: 225 reads, each copying all before it); now ~4x in all.
    size = 900 * 1024
    line = b"data: " + b"x" * (size - 6)
    chunks = [*_pieces(line, 4096), b"\n\n"]
    p = SSEParser()
    work = 0
    events: list[Event] = []
    tracemalloc.start()
    try:
        for c in chunks:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            events += p.feed(c)
            work += tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert events == [Event(M, line[6:], b"")]
    assert work < 8 * size, work / size


@pytest.mark.parametrize("read", [1 << 30, 4096, 1000, 7])
@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_a_line_may_be_as_long_as_the_limit_and_not_one_byte_more(read: int, end: bytes) -> None:
    limit = MAX_EVENT if read >= 1000 else 4096
    line = b"data: " + b"y" * (limit - 6)
    p = SSEParser(limit)
    for c in _pieces(line, read):
        assert p.feed(c) == []
    assert p.feed(end) + p.feed(end) + p.close() == [Event(M, line[6:], b"")]
    p = SSEParser(limit)
    with pytest.raises(EventTooLarge, match=r"line larger than .* without a line end") as e:
        for c in _pieces(line + b"y", read):
            p.feed(c)
    if limit == MAX_EVENT:
        assert str(e.value) == "line larger than 1 MiB without a line end"


def test_an_event_of_many_lines_is_bounded_but_a_stream_of_many_events_is_not() -> None:
    lines = b"data: 0123456789\n" * 100  # 1,100 bytes held: 100 values of 10 and their LFs
    p = SSEParser(2000)
    with pytest.raises(EventTooLarge, match="event larger than 2000 bytes without its end"):
        for c in _pieces(lines * 2, 64):
            p.feed(c)
    p = SSEParser(2000)
    got = [e for c in _pieces((lines + b"\n") * 50, 64) for e in p.feed(c)]
    assert len(got) == 50 and got[0].data == b"\n".join([b"0123456789"] * 100)
    assert p.close() == [] and not p.truncated


def test_a_limit_events_fit_is_never_reached_however_the_reads_are_cut() -> None:
    # Each event holds 15 bytes of data and a line is at most 16 bytes long.
    body = b"".join(
        b'event: e%d\r\ndata: {"i": %d}\r\ndata: more\r\n: c\r\n\r\n' % (i % 3, i % 10)
        for i in range(100)
    )
    rng = random.Random(3)
    for _ in range(50):
        p = SSEParser(32)
        got: list[Event] = []
        i = 0
        while i < len(body):
            n = rng.randint(1, 200)
            got += p.feed(body[i : i + n])
            i += n
        assert len(got + p.close()) == 100 and not p.truncated
