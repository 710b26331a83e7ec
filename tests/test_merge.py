"""The parent's merge of worker intervals (loadtest.merge) against recording every
request in one Recorder: the same histograms, totals, counters and steps, exactly."""

from __future__ import annotations

import pickle
import random
from array import array

from hdrh.histogram import HdrHistogram

from loadtest.errors import ErrorClass
from loadtest.merge import (
    Merge,
    WorkerEnd,
    WorkerInterval,
    merged_health,
    merged_status,
)
from loadtest.metrics import E2E, ITL, METRICS, TTFT
from loadtest.recorder import Recorder
from loadtest.records import CPU_BOUND_CAUSE, Health, RequestRecord, TargetStatus
from loadtest.slo import Slo

MS = 1_000_000
S = 1_000_000_000
HIGHEST_US = 120_000_000
PS = (1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)


def _req(rng: random.Random, target: str, at_ns: int) -> RequestRecord:
    """A request sent at AT_NS with a log-normal TTFT and a few token gaps; one in ten
    fails, a few last longer than the histograms reach (clipped)."""
    r = RequestRecord(target, intended_ns=at_ns, sent_ns=at_ns + rng.randrange(3 * MS))
    if rng.random() < 0.1:
        r.end_ns, r.status, r.error = r.sent_ns + 30 * MS, 503, ErrorClass.HTTP_5XX
        return r
    first = r.sent_ns + int(rng.lognormvariate(5.5, 0.6) * MS)
    gaps = [int(rng.expovariate(1 / 12) * MS) + 1 for _ in range(rng.randrange(1, 40))]
    stamps = array("q", [first])
    for g in gaps:
        stamps.append(stamps[-1] + g)
    r.first_byte_ns = r.first_token_ns = r.first_output_ns = first
    r.event_ns, r.last_token_ns = stamps, stamps[-1]
    r.end_ns = stamps[-1] + (200 * S if rng.random() < 0.01 else MS)
    r.status, r.output_tokens, r.input_tokens = 200, len(stamps), 100
    return r


def _health(worker: int, cpu: float) -> Health:
    return Health(0, 1.0 + worker, 0.5, cpu, worker=worker)


def test_merged_intervals_and_totals_are_exactly_those_of_direct_recording() -> None:
    rng = random.Random(7)
    targets = ["a", "b"]
    slo = Slo(((TTFT, 300_000),))
    direct = Recorder(targets, HIGHEST_US, 0, slo)
    workers = [Recorder(targets, HIGHEST_US, 0, slo, fold=False) for _ in range(3)]
    for rec in (direct, *workers):
        rec.keep_steps("a", [2 * S])
    merge = Merge(targets, 3, 0, 1.0, Recorder(targets, HIGHEST_US, 0, slo))
    merged = []
    for second in range(1, 5):
        for _ in range(300):
            target = rng.choice(targets)
            r = _req(rng, target, (second - 1) * S + rng.randrange(S))
            direct.record(r)
            workers[rng.randrange(3)].record(r)
        want = direct.roll(second * S)
        parts = [w.roll(second * S) for w in workers]
        assert all(not p.histograms for p in parts)  # workers send tallies only
        for k, part in enumerate(parts):
            wi = WorkerInterval(k, pickle.loads(pickle.dumps(part)), _health(k, 10.0), {})
            out = merge.add(wi)
            assert len(out) == (1 if k == 2 else 0)  # complete once all three sent it
        (iv, _, _) = out[0]
        merged.append(iv)
        assert (iv.start_ns, iv.end_ns) == (want.start_ns, want.end_ns)
        assert iv.counts == want.counts  # the clipped counts too: folded once, here
        assert iv.tallies == want.tallies
        for t in targets:
            assert set(iv.histograms[t]) == set(want.histograms[t])
            for m, encoded in want.histograms[t].items():
                got, ref = HdrHistogram.decode(iv.histograms[t][m]), HdrHistogram.decode(encoded)
                assert got.get_total_count() == ref.get_total_count()
                assert got.get_percentile_to_value_dict(list(PS)) == (
                    ref.get_percentile_to_value_dict(list(PS))
                )
            assert iv.maxima_us[t] == want.maxima_us[t]
    rec = merge.recorder
    assert rec.total_counts == direct.total_counts
    assert direct.total_counts["a"].clipped[E2E] > 0  # the clipping case was exercised
    assert direct.total_counts["a"].good > 0
    for t in targets:
        for m in METRICS:
            got, ref = rec.total[t][m], direct.total[t][m]
            assert got.get_total_count() == ref.get_total_count(), (t, m)
            assert got.get_percentile_to_value_dict(list(PS)) == (
                ref.get_percentile_to_value_dict(list(PS))
            )
    assert rec.total["a"][ITL].get_total_count() > 5000
    ends = [
        WorkerEnd(k, {}, 0.0, 4 * S, "duration", {"a": (0, 4 * S)}, w.steps, [], None)
        for k, w in enumerate(workers)
    ]
    for e in ends:
        merge.end(e)
    result = merge.result(1.8e9, 1.8e9 + 4, "")
    steps = result.recorder.steps["a"]
    assert [s.tally for s in steps] == [s.tally for s in direct.steps["a"]]
    assert [s.counts for s in steps] == [s.counts for s in direct.steps["a"]]
    assert result.intervals == 4 and result.windows == {"a": (0, 4 * S)}


def test_an_interval_waits_for_every_live_worker_and_a_lost_one_is_left_out() -> None:
    targets = ["a"]
    merge = Merge(targets, 2, 0, 1.0, Recorder(targets, HIGHEST_US, 0))
    w = [Recorder(targets, HIGHEST_US, 0, fold=False) for _ in range(2)]
    rng = random.Random(1)
    for k in range(2):
        w[k].record(_req(rng, "a", 0))

    def part(k: int, end_ns: int) -> WorkerInterval:
        return WorkerInterval(k, w[k].roll(end_ns), _health(k, 5.0), {})

    assert merge.add(part(0, S)) == []
    assert merge.add(part(0, 2 * S)) == []  # worker 0 runs ahead: nothing yet
    out = merge.add(part(1, S))
    assert [iv.end_ns for iv, _, _ in out] == [S]
    # Worker 1 is lost: interval 2 is worker 0's alone, and comes out at once.
    out = merge.lose(1)
    assert [iv.end_ns for iv, _, _ in out] == [2 * S]
    # A last, shorter interval (the run's end) belongs to the next whole one.
    assert [iv.end_ns for iv, _, _ in merge.add(part(0, 2 * S + S // 3))] == [2 * S + S // 3]
    assert merge.recorder.total_counts["a"].completed + merge.recorder.total_counts["a"].failed == 2


def test_statuses_add_up_and_the_worst_worker_speaks_for_the_interval() -> None:
    a0 = TargetStatus("a", "closed", 3, sent=10, recorded=8, in_flight=2, late=1)
    a1 = TargetStatus("a", "closed", 2, sent=7, recorded=6, in_flight=1, stopped_by="requests")
    s = merged_status([{"a": a0}, {"a": a1}])["a"]
    assert (s.offered, s.sent, s.recorded, s.in_flight, s.late) == (5, 17, 14, 3, 1)
    assert s.stopped_by == "requests"
    o0, o1 = TargetStatus("o", "open", 40.0, sent=20), TargetStatus("o", "open", 40.0, sent=21)
    assert merged_status([{"o": o0}, {"o": o1}])["o"].offered == 40.0  # the whole rate
    calm, busy = _health(0, 20.0), _health(1, 95.0)
    h = merged_health([calm, busy], 7)
    assert (h.worker, h.cause, h.end_ns) == (1, CPU_BOUND_CAUSE, 7)
    assert h.loop_lag_max_ms == 2.0
    assert merged_health([calm, _health(1, 10.0)], 7).worker == 0  # the busiest, unsaturated
    assert TTFT in METRICS


def test_prompt_lengths_take_the_calibration_a_worker_found_and_count_every_prompt() -> None:
    from loadtest.merge import _lengths
    from loadtest.prompt_length import CALIBRATED, ESTIMATE, Fit, Lengths

    a, b = Lengths(ESTIMATE), Lengths(ESTIMATE)
    a.of("t").requested, a.of("t").prompts = 500, 10  # its warm-up saw no answer
    tb = b.of("t")
    tb.fit, tb.samples, tb.requested, tb.prompts = Fit(3.9, 2.0), [(400, 100)], 450, 9
    merged = _lengths([a, None, b])
    assert merged is not None
    t = merged.of("t")
    assert t.fit == Fit(3.9, 2.0) and (t.requested, t.prompts) == (950, 19)
    assert merged.method_of("t") == CALIBRATED
    assert a.of("t").fit is None  # the parts are left as they were
    assert _lengths([None, None]) is None


def test_a_lost_worker_s_requests_in_flight_are_abandoned_and_waiting_ones_unsent() -> None:
    merge = Merge(["a"], 2, 0, 1.0, Recorder(["a"], HIGHEST_US, 0), warmup_s=0.5)
    rec = Recorder(["a"], HIGHEST_US, 0, fold=False)
    status = {"a": TargetStatus("a", "open", 10.0, sent=9, recorded=5, in_flight=3, waiting=1)}
    merge.add(WorkerInterval(0, rec.roll(S), _health(0, 5.0), status))
    merge.lose(0)
    s = merge.current_status()["a"]
    assert (s.in_flight, s.waiting, s.abandoned, s.unsent) == (0, 0, 3, 1)
    # One that ended said how its requests ended itself: nothing is moved.
    done = {"a": TargetStatus("a", "open", 10.0, sent=4, recorded=4)}
    merge.end(WorkerEnd(1, done, 0.0, S, "duration", {}, {}, [], None))
    assert merge.current_status()["a"].sent == 13
