"""Metric arithmetic on synthetic timelines."""

from __future__ import annotations

from array import array

import pytest

from loadtest.metrics import (
    E2E,
    E2E_FROM_INTENDED,
    OUTPUT_SPEED,
    OUTPUT_TOKENS,
    SCHEDULE_LAG,
    TPOT,
    TTFT,
    TTFT_FROM_INTENDED,
    derive,
    itl_gaps,
)
from loadtest.records import RequestRecord

MS = 1_000_000  # ns


def _record(tokens_ms: list[float], **kw: object) -> RequestRecord:
    t = array("q", [int(x * MS) for x in tokens_ms])
    base = {
        "target": "t",
        "intended_ns": 0,
        "sent_ns": 10 * MS,
        "first_byte_ns": 200 * MS,
        "first_token_ns": t[0] if t else 0,
        "last_token_ns": t[-1] if t else 0,
        "end_ns": (tokens_ms[-1] + 5) * MS if t else 300 * MS,
        "event_ns": t,
        "output_tokens": len(t),
    }
    return RequestRecord(**(base | kw))  # type: ignore[arg-type]


def test_a_normal_stream() -> None:
    r = _record([300, 310, 320, 350])
    m = derive(r)
    assert m[TTFT] == 290_000 and m[TTFT_FROM_INTENDED] == 300_000
    assert m[E2E] == 345_000 and m[E2E_FROM_INTENDED] == 355_000
    assert m[SCHEDULE_LAG] == 10_000
    assert m[TPOT] == 16_667  # 50 ms over 3 gaps
    assert m[OUTPUT_SPEED] == 60_000  # 3 tokens in 50 ms = 60 tok/s, in milli-tokens/s
    assert m[OUTPUT_TOKENS] == 4


def test_tpot_and_speed_divide_by_tokens_not_events() -> None:
    # Four events of four tokens each (Anthropic deltas, vLLM's stream interval): 15 token
    # gaps over 30 ms, not 3 event gaps. ITL stays the gaps between events.
    r = _record([300, 310, 320, 330], output_tokens=16)
    m = derive(r)
    assert m[TPOT] == 2_000 and m[OUTPUT_SPEED] == 500_000
    assert itl_gaps(r) == [(10_000, 3)]
    # Every token in one event: no span to divide, so neither is defined.
    assert {TPOT, OUTPUT_SPEED}.isdisjoint(derive(_record([300], output_tokens=5)))


def test_a_stalled_schedule_shows_from_intended_not_in_service_time() -> None:
    on_time = derive(_record([300, 310], intended_ns=0, sent_ns=0))
    late = derive(_record([2300, 2310], intended_ns=0, sent_ns=2000 * MS))
    assert on_time[TTFT] == late[TTFT] == 300_000
    assert late[TTFT_FROM_INTENDED] == 2_300_000 and late[SCHEDULE_LAG] == 2_000_000


@pytest.mark.parametrize(
    ("tokens", "absent"),
    [([300], {TPOT, OUTPUT_SPEED}), ([], {TTFT, TTFT_FROM_INTENDED, TPOT, OUTPUT_SPEED})],
)
def test_undefined_metrics_are_absent_not_zero(tokens: list[float], absent: set[str]) -> None:
    m = derive(_record(tokens))
    assert absent.isdisjoint(m)


def test_failed_requests_keep_only_schedule_lag() -> None:
    m = derive(_record([300, 310], error="http_5xx", status=500))
    assert m == {SCHEDULE_LAG: 10_000}


def test_itl_runs_group_equal_gaps_and_keep_zero_gaps_of_one_read() -> None:
    r = _record([300, 310, 320, 320, 320, 330, 400])
    assert itl_gaps(r) == [(10_000, 3), (70_000, 1), (0, 2)]
    assert sum(c for _, c in itl_gaps(r)) == len(r.event_ns) - 1
    assert itl_gaps(_record([300])) == [] and itl_gaps(_record([])) == []
