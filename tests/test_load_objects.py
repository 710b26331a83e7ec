"""A read's events decoded in one orjson call (providers.reading.load_objects) read
exactly as the same events one by one: the same counts, usage, end, and the same
error at the same event, whatever the events hold."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from loadtest.providers import anthropic, openai_chat, openai_responses
from loadtest.providers.reading import DONE, Reading, load_objects
from loadtest.sse import Event


def _ev(data: bytes | dict[str, object]) -> Event:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return Event(b"message", raw, b"")


def _chunk(content: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


USAGE: dict[str, object] = {"choices": [], "usage": {"completion_tokens": 3, "prompt_tokens": 9}}
FINISH: dict[str, object] = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

CHAT_READS: dict[str, list[bytes | dict[str, object]]] = {
    "tokens, finish, usage, done": [
        _chunk("a"),
        _chunk("b"),
        _chunk(""),
        _chunk("c"),
        FINISH,
        USAGE,
        b"[DONE]",
    ],
    "invalid JSON in the middle": [_chunk("a"), b'{"choices": [', _chunk("b")],
    "an array, not an object": [_chunk("a"), b"[1, 2]", _chunk("b")],
    "a number": [_chunk("a"), b"7"],
    "two objects in one event": [_chunk("a"), b'{"a": 1},{"b": 2}', _chunk("b")],
    "a top-level comma and an empty event": [b"1,2", b"", _chunk("a")],
    "null": [_chunk("a"), b"null", _chunk("b")],
    "done in the middle": [_chunk("a"), b"[DONE]", _chunk("b")],
    "a wrong shape": [_chunk("a"), {"choices": "text"}, _chunk("b")],
    "an error event": [_chunk("a"), {"error": {"message": "boom"}}, _chunk("b")],
    "one event": [_chunk("a")],
}


def _read(parse: object, events: list[Event], one_by_one: bool) -> Reading:
    r = Reading()
    if one_by_one:
        for e in events:
            if r.error is not None:
                break
            parse([e], r)  # type: ignore[operator]
    else:
        parse(events, r)  # type: ignore[operator]
    return r


@pytest.mark.parametrize("name", list(CHAT_READS))
def test_chat_events_read_alike_in_one_call_or_one_by_one(name: str) -> None:
    events = [_ev(x) for x in CHAT_READS[name]]
    together = _read(openai_chat.parse_events, events, False)
    apart = _read(openai_chat.parse_events, events, True)
    assert dataclasses.asdict(together) == dataclasses.asdict(apart)


@pytest.mark.parametrize(
    ("parse", "events"),
    [
        (
            anthropic.parse_events,
            [
                {"type": "message_start", "message": {"usage": {"input_tokens": 5}}},
                {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}},
                b"[DONE]",  # not an Anthropic event: a protocol error, as ever
                {"type": "message_stop"},
            ],
        ),
        (
            openai_responses.parse_events,
            [
                {"type": "response.output_text.delta", "delta": "x"},
                b"oops",
                {"type": "response.output_text.delta", "delta": "y"},
            ],
        ),
    ],
)
def test_the_other_apis_read_alike_too(parse: object, events: list[object]) -> None:
    evs = [_ev(x) for x in events]  # type: ignore[arg-type]  # bytes or dicts
    together, apart = _read(parse, evs, False), _read(parse, evs, True)
    assert dataclasses.asdict(together) == dataclasses.asdict(apart)
    assert together.error is not None  # the bad event was found in both


def test_the_values_stop_at_the_first_bad_event_and_done_is_marked() -> None:
    r = Reading()
    got = load_objects([_ev(_chunk("a")), _ev(b"[DONE]")], r, done=True)
    assert got[1] is DONE and r.error is None
    r = Reading()
    got = load_objects([_ev(_chunk("a")), _ev(b"[1]"), _ev(_chunk("b"))], r)
    assert got[0] == _chunk("a") and got[1:] == [None]
    assert r.error is not None and "not an object" in r.error_detail
