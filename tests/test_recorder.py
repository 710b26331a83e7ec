"""Recorder histograms, intervals, clipping, and the .hlog lines they become."""

from __future__ import annotations

import gc
import pickle
from array import array

import pytest
from hdrh.histogram import HdrHistogram

from loadtest import hlog
from loadtest.errors import ErrorClass
from loadtest.metrics import E2E, ITL, OUTPUT_TOKENS, TTFT
from loadtest.recorder import Recorder
from loadtest.records import RequestRecord

MS = 1_000_000


def _req(
    target: str,
    ttft_ms: float,
    tokens: int = 3,
    gap_ms: float = 10.0,
    error: ErrorClass | None = None,
    e2e_ms: float | None = None,
) -> RequestRecord:
    first = int(ttft_ms * MS)
    t = array("q", [first + int(i * gap_ms * MS) for i in range(tokens)])
    end = int(e2e_ms * MS) if e2e_ms is not None else t[-1] + MS
    return RequestRecord(target, 0, 0, first, first, first, t[-1], end, t, tokens, error=error)


def test_percentiles_of_the_run_and_intervals() -> None:
    rec = Recorder(["a", "b"], highest_us=60_000_000, start_ns=0)
    for i in range(1, 1001):
        rec.record(_req("a", i))  # TTFT 1..1000 ms
    first = rec.roll(5_000 * MS)
    rec.record(_req("b", 50))
    second = rec.roll(10_000 * MS)
    a_ttft = rec.total["a"][TTFT]
    assert a_ttft.get_total_count() == 1000
    assert a_ttft.get_value_at_percentile(50) == pytest.approx(500_000, rel=1e-3)
    assert a_ttft.get_value_at_percentile(95) == pytest.approx(950_000, rel=1e-3)
    assert HdrHistogram.decode(first.histograms["a"][TTFT]).get_total_count() == 1000
    assert "b" not in first.histograms or not first.histograms["b"]
    assert HdrHistogram.decode(second.histograms["b"][TTFT]).get_total_count() == 1
    assert first.counts["a"].completed == 1000 and rec.total_counts["a"].completed == 1000
    assert second.start_ns == first.end_ns == 5_000 * MS
    # every gap of every request: 2 per request, 10 ms each
    itl = rec.total["a"][ITL]
    assert itl.get_total_count() == 2000
    assert itl.get_value_at_percentile(99) == pytest.approx(10_000, rel=1e-3)
    assert rec.total["a"][OUTPUT_TOKENS].get_mean_value() == pytest.approx(3)


def test_out_of_range_values_are_clipped_and_counted() -> None:
    rec = Recorder(["a"], highest_us=1_000_000, start_ns=0)  # 1 s range
    rec.record(_req("a", 100, e2e_ms=5_000))
    interval = rec.roll(MS)
    assert interval.counts["a"].clipped[E2E] == 1
    assert rec.total["a"][E2E].get_total_count() == 0
    assert rec.total["a"][TTFT].get_total_count() == 1


def test_failures_are_counted_by_class_and_record_no_latency() -> None:
    rec = Recorder(["a"], highest_us=60_000_000, start_ns=0)
    rec.record(_req("a", 100, error=ErrorClass.HTTP_429))
    rec.record(_req("a", 100, error=ErrorClass.HTTP_429))
    rec.record(_req("a", 100, error=ErrorClass.TIMEOUT_TTFT))
    interval = rec.roll(MS)
    assert interval.counts["a"].failed == 3 and interval.counts["a"].completed == 0
    assert interval.counts["a"].errors == {"http_429": 2, "timeout_ttft": 1}
    assert rec.total["a"][TTFT].get_total_count() == 0


def test_intervals_are_picklable_for_shards() -> None:
    rec = Recorder(["a"], highest_us=60_000_000, start_ns=0)
    rec.record(_req("a", 10))
    interval = rec.roll(MS)
    assert pickle.loads(pickle.dumps(interval)) == interval


def test_hlog_lines_round_trip() -> None:
    rec = Recorder(["gpt-4o-mini, eu"], highest_us=60_000_000, start_ns=1_000 * MS)
    for i in range(1, 101):
        rec.record(_req("gpt-4o-mini, eu", i))
    interval = rec.roll(6_000 * MS)
    text = hlog.header(1_795_000_000.0) + "".join(hlog.lines(interval, run_start_ns=1_000 * MS))
    head, *rows = [ln for ln in text.splitlines() if not ln.startswith(("#", '"'))] or [""]
    assert text.startswith("#[Histogram log format version 1.3]\n#[StartTime: 1795000000.000")
    parsed = {p[0]: p for p in map(hlog.parse_line, [head, *rows])}
    tag = "gpt-4o-mini__eu/ttft"
    assert tag in parsed
    _, start, length, max_ms, encoded = parsed[tag]
    assert (start, length) == (0.0, 5.0)
    assert max_ms == pytest.approx(100.0, rel=1e-3)
    h = HdrHistogram.decode(encoded)
    assert h.get_total_count() == 100
    assert h.get_value_at_percentile(50) == pytest.approx(50_000, rel=1e-3)


def test_tallies_give_exactly_the_histogram_direct_recording_gives() -> None:
    # The hot path rounds each value to its bucket and counts it; the histogram built
    # from those counts must equal one fed every value with record_value.
    import random

    rng = random.Random(4)
    rec = Recorder(["a"], highest_us=60_000_000, start_ns=0)
    direct = HdrHistogram(1, 60_000_000, 3)
    for _ in range(3000):
        ttft_ms = rng.lognormvariate(5, 1.5) % 50_000 + 0.0005
        r = _req("a", ttft_ms)
        rec.record(r)
        direct.record_value(max(1, (r.first_token_ns - r.sent_ns + 500) // 1000))
    iv = rec.roll(MS)
    got = HdrHistogram.decode(iv.histograms["a"][TTFT])
    for h in (got, rec.total["a"][TTFT]):
        assert h.get_total_count() == direct.get_total_count() == 3000
        for p in (0, 1, 10, 50, 90, 99, 99.9, 100):
            assert h.get_value_at_percentile(p) == direct.get_value_at_percentile(p), p
        assert h.get_min_value() == direct.get_min_value()
        assert h.get_max_value() == direct.get_max_value()
    ps = [0.0, 0.1, 1, 25, 50, 90, 95, 99, 99.9, 100]
    assert iv.percentiles("a", TTFT, ps) == {p: direct.get_value_at_percentile(p) for p in ps}
    assert iv.percentiles("a", E2E, [50]) and iv.percentiles("nobody", TTFT, [50]) == {}


def test_tally_mean_and_stddev_are_hdrh_s() -> None:
    # summary.json and .hgrm files take the mean and deviation from the non-zero buckets;
    # hdrh walks every counter in Python (two seconds of CPU for a run's 18 histograms).
    import random

    from loadtest.recorder import new_histogram
    from loadtest.tally import mean_stddev, nonzero_buckets

    rng = random.Random(3)
    h = new_histogram(600_000_000)
    for _ in range(5000):
        h.record_value(int(rng.lognormvariate(12, 1.2)))
    h.record_value(7, 40)
    mean, stddev = mean_stddev(nonzero_buckets(h))
    assert mean == pytest.approx(h.get_mean_value(), rel=1e-12)
    assert stddev == pytest.approx(h.get_stddev(), rel=1e-12)
    assert mean_stddev(nonzero_buckets(new_histogram(1000))) == (0.0, 0.0)


@pytest.mark.parametrize(
    "values",
    [
        [5],
        [1, 1, 1, 2_000_000],
        list(range(1, 3000, 7)),
        "lognormal",
    ],
)
def test_percentile_steps_and_percentiles_are_hdrh_s(values: object) -> None:
    # The .hgrm files, the distribution charts and summary.json's percentiles come from
    # the non-zero buckets; hdrh's iterators walk every counter in Python.
    import random

    from loadtest.recorder import new_histogram
    from loadtest.tally import nonzero_buckets, percentile_steps, tally_percentiles

    h = new_histogram(600_000_000)
    if values == "lognormal":
        rng = random.Random(9)
        values = [int(rng.lognormvariate(11, 1.5)) for _ in range(20_000)]
    assert isinstance(values, list)
    for v in values:
        h.record_value(v)
    for ticks in (1, 5):
        expected = [
            (it.value_iterated_to, it.percentile_level_iterated_to, it.total_count_to_this_value)
            for it in h.get_percentile_iterator(ticks)
        ]
        assert percentile_steps(nonzero_buckets(h), ticks) == expected
    ps = (0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)
    at = tally_percentiles(nonzero_buckets(h), ps)
    assert at == {p: h.get_value_at_percentile(p) for p in ps}


def test_resampler_percentile_is_that_of_the_merged_resample() -> None:
    import random

    from loadtest.tally import Resampler, merge_tallies, tally_percentiles

    rng = random.Random(4)
    parts = []
    for i in range(30):
        part: dict[int, int] = {}
        for _ in range(rng.randint(1, 60)):
            v = int(rng.lognormvariate(12 + (i % 3), 1.0))
            shift = v.bit_length() - 11
            v = v >> shift << shift if shift > 0 else v
            part[v] = part.get(v, 0) + 1
        parts.append(part)
    resampler = Resampler(parts)
    for p in (0.0, 50.0, 95.0, 99.0, 100.0):
        for seed in range(20):
            fast = resampler.percentile(random.Random(seed), p)
            drawn = random.Random(seed).choices(parts, k=len(parts))
            assert fast == tally_percentiles(merge_tallies(drawn), [p])[p]


def test_an_interval_s_histograms_are_freed_without_the_cyclic_collector() -> None:
    # hdrh pairs each histogram with its encoder; left paired, every interval's
    # histograms (170 KB of counts each) waited for a full collection.
    def live() -> tuple[
        int, int
    ]:  # histograms, and ctypes array types (hdrh's encode made one each)
        objects = gc.get_objects()
        return (
            sum(isinstance(o, HdrHistogram) for o in objects),
            sum(type(o).__name__ == "PyCArrayType" for o in objects),
        )

    rec = Recorder(["a"], highest_us=60_000_000, start_ns=0)
    gc.collect()
    gc.disable()
    try:
        before = live()
        for n in range(1, 21):
            rec.record(_req("a", 10 + n))
            encoded = rec.roll(n * 1_000 * MS).histograms["a"][TTFT]
        assert live() == before
    finally:
        gc.enable()
    assert HdrHistogram.decode(encoded).get_total_count() == 1  # still encoded whole


@pytest.mark.parametrize(
    "values",
    [
        [],
        [1],
        [3_600_000_000],  # the range's top
        [5, 5, 5, 2047, 2048, 2049],  # around the first bucket boundary
        list(range(1, 3000, 7)),
        [10**k for k in range(10)],
    ],
    ids=["empty", "one", "top", "boundary", "dense", "spread"],
)
def test_our_encoder_writes_hdrh_s_bytes(values: list[int]) -> None:
    from loadtest.hdr_codec import Encoder
    from loadtest.recorder import new_histogram

    h = new_histogram(3_600_000_000)
    for v in values:
        assert h.record_value(v)
    encoded = Encoder(h.counts_len).encode(h)
    assert encoded == h.encode()
    assert HdrHistogram.decode(encoded).get_total_count() == len(values)


def test_our_encoder_refuses_a_histogram_of_another_range() -> None:
    from loadtest.hdr_codec import Encoder
    from loadtest.recorder import new_histogram

    with pytest.raises(ValueError, match="counters"):
        Encoder(new_histogram(1000).counts_len).encode(new_histogram(10**9))
