"""The engine's decisions on virtual time: when requests go out, and how each one ends.

A fake Sender stands in for the server (each request takes a known time), the loop's
clock is virtual (tests/virtual_time.py), so every count below is exact: late, shed,
unsent and abandoned requests, in-flight caps, load steps, stop conditions, warm-up.
The same engine against the real simulator is tested end to end in test_run.py.
"""

from __future__ import annotations

import itertools

import pytest
from enginekit import Collect, FakeServer, engine_profile, run_virtual
from virtual_time import VirtualTimeLoop

from loadtest import coarse, pool
from loadtest import engine as engine_module
from loadtest.engine import Engine
from loadtest.loadspec import Load, Step
from loadtest.profile import Timeouts
from loadtest.records import CPU_BOUND_CAUSE, DELAYED_CAUSE, RequestRecord, TargetStatus
from loadtest.selfcheck import SelfCheck
from loadtest.shard_io import Clocks, ShardSpec


def _accounted(s: TargetStatus, completed_and_failed: int) -> None:
    assert s.sent == s.warmup + completed_and_failed + s.abandoned


def test_open_loop_waits_then_sheds_at_the_backlog_and_never_sends_what_was_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 10 req/s for 2 s against 2 slots of 0.97 s each, with room for 3 waiting requests.
    monkeypatch.setattr(engine_module, "MAX_BACKLOG", 3)
    load = Load(mode="open", rate=10.0, max_in_flight=2)
    result, sink, fake, _ = run_virtual(engine_profile(load), lambda t, i: 0.97)
    s = result.targets["a"]
    # #0 and #1 go at once; #2-#4 wait; #5-#9 are shed; #2 and #3 take the slots freed at
    # 0.97 and 1.07 s, #10 and #11 the room that made; #12-#19 are shed; #4 goes at 1.94 s.
    # At the stop (2 s) #10 and #11 are still waiting: unsent, never sent.
    assert (s.sent, s.recorded, s.shed, s.unsent, s.abandoned) == (5, 5, 13, 2, 0)
    assert s.late == 3  # #2, #3 and #4 went out late (their waits show in *_from_intended)
    assert sink.outcomes() == {"ok": 5, "shed": 13, "unsent": 2}
    assert 5 + 13 + 2 == 20  # every arrival of the schedule is accounted for
    assert max(n for _, n in fake.peak) == 2
    _accounted(s, result.recorder.total_counts["a"].completed)


def test_max_in_flight_caps_concurrent_requests() -> None:
    load = Load(mode="open", rate=50.0, max_in_flight=4)
    result, _, fake, _ = run_virtual(engine_profile(load, duration_s=1.0), lambda t, i: 0.5)
    assert max(n for _, n in fake.peak) == 4
    assert result.targets["a"].late > 0 and result.targets["a"].shed == 0


def test_drain_deadline_abandons_and_counts_what_is_in_flight() -> None:
    load = Load(concurrency=3)
    profile = engine_profile(load, duration_s=1.0, timeouts=Timeouts(total_s=5.0))
    result, sink, _, ended = run_virtual(profile, lambda t, i: 100.0)
    s = result.targets["a"]
    assert (s.sent, s.recorded, s.abandoned, s.in_flight) == (3, 0, 3, 0)
    assert sink.outcomes() == {"abandoned": 3}
    assert ended == pytest.approx(6.0)  # stop at 1 s, then the 5 s drain
    _accounted(s, 0)


def test_drain_without_its_deadline_lets_requests_finish() -> None:
    result, sink, _, ended = run_virtual(
        engine_profile(Load(concurrency=3), duration_s=1.0), lambda t, i: 2
    )
    s = result.targets["a"]
    assert (s.sent, s.recorded, s.abandoned) == (3, 3, 0) and sink.outcomes() == {"ok": 3}
    assert ended == pytest.approx(2.0)


def test_cancelled_run_accounts_for_requests_in_flight_and_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second Ctrl-C: in-flight requests are abandoned, waiting ones never sent.
    load = Load(mode="open", rate=10.0, max_in_flight=2)
    result, sink, _, _ = run_virtual(engine_profile(load, duration_s=10.0), lambda t, i: 5.0, 1.05)
    s = result.targets["a"]
    assert (s.sent, s.abandoned, s.unsent, s.recorded) == (2, 2, 9, 0)
    assert sink.outcomes() == {"abandoned": 2, "unsent": 9}
    _accounted(s, 0)


def test_closed_loop_steps_change_the_concurrency() -> None:
    load = Load(concurrency=1, steps=(Step(1.0, concurrency=2), Step(1.0, concurrency=5)))
    _, _, fake, _ = run_virtual(engine_profile(load), lambda t, i: 0.1)
    first = max(n for t, n in fake.peak if t < 0.95)
    second = max(n for t, n in fake.peak if 1.1 <= t < 2.0)
    assert (first, second) == (2, 5)


def test_open_loop_steps_change_the_rate() -> None:
    load = Load(mode="open", steps=(Step(1.0, rate=10.0), Step(1.0, rate=20.0)))
    _, _, fake, _ = run_virtual(engine_profile(load), lambda t, i: 0.01)
    sends = [t for t, _ in fake.peak]
    assert sum(t < 0.99 for t in sends) == 10 and sum(t >= 0.99 for t in sends) == 20


def test_status_reports_the_step_in_force() -> None:
    load = Load(concurrency=1, steps=(Step(1.0, concurrency=2), Step(1.0, concurrency=5)))
    _, sink, _, _ = run_virtual(engine_profile(load), lambda t, i: 0.1)
    # Interval ends at 1 s and 2 s: the step in force at each end (the last one stays).
    assert [st["a"].offered_text for st in sink.statuses][:2] == ["5 streams", "5 streams"]
    assert sink.statuses[0]["a"].in_flight <= 5


def test_stop_on_duration() -> None:
    result, _, _, ended = run_virtual(
        engine_profile(Load(concurrency=1), duration_s=1.0), lambda t, i: 0.3
    )
    s = result.targets["a"]
    # Sent at 0, 0.3, 0.6 and 0.9 s; the last one finishes in the drain.
    assert (s.sent, s.recorded, s.stopped_by) == (4, 4, "duration")
    assert ended == pytest.approx(1.2)


def test_stop_on_request_count_never_overshoots() -> None:
    result, sink, _, _ = run_virtual(
        engine_profile(Load(concurrency=3), requests=7), lambda t, i: 0.25
    )
    s = result.targets["a"]
    assert (s.sent, s.recorded, s.stopped_by) == (7, 7, "requests")
    assert sink.outcomes() == {"ok": 7}


def test_open_loop_stops_at_its_request_count() -> None:
    load = Load(mode="open", rate=10.0, max_in_flight=2)
    result, _, _, ended = run_virtual(
        engine_profile(load, duration_s=60.0, requests=5), lambda t, i: 1.0
    )
    s = result.targets["a"]
    assert (s.sent, s.recorded, s.unsent, s.stopped_by) == (5, 5, 0, "requests")
    assert ended < 5.0  # the target stops once its count is reached, not at the duration


def test_stop_on_error_budget() -> None:
    profile = engine_profile(Load(concurrency=1), duration_s=600.0, error_budget=0.5)
    result, _, _, ended = run_virtual(profile, lambda t, i: 0.1, fail=lambda t, i: True)
    s = result.targets["a"]
    # Judged once 20 are recorded; every one failed, so the 20th stops the target (the
    # worker backs off between failures, so that takes about two virtual minutes).
    assert (s.recorded, s.failed, s.stopped_by) == (20, 20, "error_budget")
    assert ended < 300.0


def test_warm_up_requests_are_sent_but_not_recorded() -> None:
    profile = engine_profile(Load(concurrency=1), warmup_s=1.0)
    result, sink, _, _ = run_virtual(profile, lambda t, i: 0.3)
    s = result.targets["a"]
    # Sent at 0, .3, .6, .9 (warm-up) and 1.2, 1.5, 1.8 s (measured).
    assert (s.sent, s.warmup, s.recorded) == (7, 4, 3)
    assert result.recorder.total_counts["a"].completed == 3
    assert [m for _, m in sink.records] == [False] * 4 + [True] * 3
    _accounted(s, 3)


def test_late_is_counted_from_the_intended_time() -> None:
    # One slot, 0.35 s a request, 4 req/s: each waits a little longer than the last, and
    # the fourth (due at 0.75 s, its slot free at 1.05 s) is still waiting at the stop.
    load = Load(mode="open", rate=4.0, max_in_flight=1)
    result, sink, _, _ = run_virtual(engine_profile(load, duration_s=1.0), lambda t, i: 0.35)
    s = result.targets["a"]
    lags = [(r.sent_ns - r.intended_ns) / 1e9 for r, _ in sink.records if r.sent_ns]
    assert lags == pytest.approx([0.0, 0.1, 0.2])
    assert (s.late, s.sent, s.unsent) == (2, 3, 1)


def test_self_check_reports_cpu_over_the_elapsed_time_and_the_loop_lag() -> None:
    now = [0]
    cpu = [0.0]
    check = SelfCheck(lambda: now[0], lambda: cpu[0])
    check.start(0)
    check._lags += [0.5, 12.0, 1.0]  # what probe() appends, in ms
    now[0], cpu[0] = 2_000_000_000, 1.5  # 1.5 s of CPU in 2 s
    h = check.close(now[0])
    assert h.cpu_percent == pytest.approx(75.0) and h.loop_lag_max_ms == 12.0
    assert (h.late_ms, h.span_ms) == (12.0, 2000.0)
    assert not h.saturated  # one 12 ms hiccup in two seconds is no verdict
    now[0], cpu[0] = 3_000_000_000, 1.6
    h = check.close(now[0])
    assert h.cpu_percent == pytest.approx(10.0) and not h.saturated
    assert len(check.history) == 2


@pytest.mark.parametrize(
    ("lags", "cpu_s", "cause"),
    [
        ([0.5] * 50, 0.1, ""),
        ([40.0] + [0.5] * 49, 0.1, ""),  # one hiccup: 2% of the interval
        ([11.0] * 10 + [0.5] * 40, 0.1, DELAYED_CAUSE),  # 110 ms of 2 s late, at 5% CPU
        ([150.0] + [0.5] * 49, 0.2, DELAYED_CAUSE),  # one stall of 150 ms: 7.5% late
        ([0.5] * 50, 1.9, CPU_BOUND_CAUSE),  # 95% of a core
        ([30.0] * 20, 1.95, CPU_BOUND_CAUSE),  # busy and late: the core is the cause
    ],
)
def test_the_self_check_names_a_sustained_cause_not_a_hiccup(
    lags: list[float], cpu_s: float, cause: str
) -> None:
    now, cpu = [0], [0.0]
    check = SelfCheck(lambda: now[0], lambda: cpu[0])
    check.start(0)
    check._lags += lags
    now[0], cpu[0] = 2_000_000_000, cpu_s
    h = check.close(now[0])
    assert h.cause == cause and h.saturated == bool(cause)
    assert check.saturated == bool(cause) and dict(check.causes) == ({cause: 1} if cause else {})
    two = h.then(h)  # a coarse point of two such intervals says the same
    assert two.cause == cause


def test_a_few_ms_of_drain_after_the_last_boundary_is_not_a_cpu_bound_client() -> None:
    # Against a real vLLM the drain's interval lasted 6 ms, and its closing work read as
    # 90% of a core: "CLIENT CPU-BOUND" for a run whose client never passed 4%.
    now, cpu = [0], [0.0]
    check = SelfCheck(lambda: now[0], lambda: cpu[0])
    check.start(0)
    now[0], cpu[0] = 6_000_000, 0.0054
    h = check.close(now[0])
    assert h.cpu_percent == pytest.approx(90.0) and h.cause == "" and check.saturated == 0
    now[0], cpu[0] = 306_000_000, 0.0054 + 0.29  # 300 ms at 97%: long enough to judge
    assert check.close(now[0]).cause == CPU_BOUND_CAUSE


def test_a_failing_closed_loop_backs_off_instead_of_hammering() -> None:
    # Every request fails at once with a 500: without backoff, 4 workers would send
    # 4 / 0.01 s = 400 requests a second, 4,000 in 10 s.
    profile = engine_profile(Load(concurrency=4), duration_s=10.0)
    result, _, fake, _ = run_virtual(profile, lambda t, i: 0.02, fail=lambda t, i: True)
    sends = sorted(t for t, _ in fake.peak)
    assert 20 <= len(sends) <= 80, len(sends)  # about 4 x 9 doublings up to the 10 s cap
    # The waits grow: the second half of the run sees fewer sends than the first second.
    assert sum(t < 1.0 for t in sends) > sum(t >= 5.0 for t in sends)
    assert result.targets["a"].failed == len(sends)


def test_retry_after_is_honoured() -> None:
    profile = engine_profile(Load(concurrency=1), duration_s=10.0)
    _, _, fake, _ = run_virtual(profile, lambda t, i: 0.02, fail=lambda t, i: True, retry_after="3")
    sends = [t for t, _ in fake.peak]
    # each fails 10 ms in (half its service time), then the worker waits the 3 s asked
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert len(sends) == 4 and all(g == pytest.approx(3.01) for g in gaps), sends


@pytest.mark.parametrize(("mode", "status"), [("closed", 401), ("open", 404), ("closed", 400)])
def test_a_target_stops_after_fatal_errors_in_a_row(mode: str, status: int) -> None:
    load = Load(mode=mode, rate=20.0, concurrency=2, max_in_flight=2)
    result, sink, _, ended = run_virtual(
        engine_profile(load, duration_s=600.0),
        lambda t, i: 0.01,
        fail=lambda t, i: True,
        status=status,
    )
    s = result.targets["a"]
    assert s.stopped_by.startswith(f"5 x HTTP {status} in a row (HTTP {status}")
    assert 5 <= s.failed <= 6 and ended < 60.0  # not 600 s of refused requests
    assert sink.outcomes()["unsent"] == s.unsent


def test_a_fatal_streak_is_broken_by_a_success() -> None:
    # 401 on four of every five requests: never five in a row, so the target runs on.
    profile = engine_profile(Load(concurrency=1), duration_s=30.0)
    result, _, _, _ = run_virtual(
        profile, lambda t, i: 0.1, fail=lambda t, i: i % 5 != 4, status=401
    )
    assert result.targets["a"].stopped_by == "duration"


def test_a_sender_that_raises_fails_that_request_and_the_worker_goes_on() -> None:
    def service(target: str, i: int) -> float:
        if i % 3 == 0:
            raise TypeError("'int' object is not subscriptable")
        return 0.1

    result, sink, _, _ = run_virtual(engine_profile(Load(concurrency=2), duration_s=2.0), service)
    s = result.targets["a"]
    outcomes = sink.outcomes()
    assert outcomes["client_error"] > 0 and outcomes["ok"] > 0 and s.stopped_by == "duration"
    detail_errors = [r for r, _ in sink.records if r.error == "client_error"]
    assert all(r.end_ns >= r.sent_ns > 0 for r in detail_errors)


def test_a_worker_that_dies_stops_the_run_and_says_why() -> None:
    class BrokenSink(Collect):
        def request(
            self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
        ) -> None:
            if len(self.records) == 3:
                raise OSError(28, "No space left on device")
            super().request(r, metrics, detail, measured)

    loop = VirtualTimeLoop()
    fake = FakeServer(loop, lambda t, i: 0.1)
    clocks = Clocks(perf_ns=loop.ns, wall_s=lambda: 1.8e9, cpu_s=lambda: 0.0)
    spec = ShardSpec(engine_profile(Load(concurrency=1), duration_s=60.0), (("a", "x"),))
    eng = Engine(spec, BrokenSink(), fake, clocks)
    try:
        result = loop.run_until_complete(eng.run())
    finally:
        loop.close()
    assert result.stopped_by.startswith("worker died (OSError: [Errno 28] No space left")
    assert loop.elapsed < 1.0  # stopped at once, not after the 60 s


def test_a_huge_concurrency_starts_its_workers_as_it_goes_and_stops_at_the_count() -> None:
    # Built up front, a billion workers would be gigabytes before the first request;
    # started a batch per turn, the count is reached and the run ends.
    result, sink, fake, _ = run_virtual(
        engine_profile(Load(concurrency=10**9), requests=5, duration_s=60.0), lambda t, i: 0.1
    )
    s = result.targets["a"]
    assert (s.sent, s.recorded, s.stopped_by) == (5, 5, "requests")
    assert sink.outcomes() == {"ok": 5} and len(fake.peak) == 5


def test_a_large_concurrency_is_reached_in_batches_and_stops_on_time() -> None:
    n = 3 * pool.BATCH + 7
    result, _, fake, ended = run_virtual(
        engine_profile(Load(concurrency=n), duration_s=1.0), lambda t, i: 0.4
    )
    s = result.targets["a"]
    # All of them start at once (no virtual time passes between batches), twice more
    # at 0.4 and 0.8 s; the last round finishes in the drain.
    assert max(k for _, k in fake.peak) == n
    assert (s.sent, s.recorded, s.stopped_by) == (3 * n, 3 * n, "duration")
    assert ended == pytest.approx(1.2)


def test_a_stepped_closed_loop_starts_workers_only_when_a_step_asks() -> None:
    load = Load(concurrency=1, steps=(Step(1.0, concurrency=1), Step(1.0, concurrency=4)))
    _, _, fake, _ = run_virtual(engine_profile(load), lambda t, i: 0.25)
    first_sends = sorted(t for t, k in fake.peak if k > 1)
    # (The virtual clock's float seconds and the engine's ns differ by rounding at 1 s.)
    assert max(k for t, k in fake.peak if t < 0.99) == 1
    assert first_sends and 0.99 <= first_sends[0] < 1.0 + pool.POLL_S + 1e-6


def test_a_long_run_keeps_a_bounded_timeline_with_its_totals() -> None:
    # 3,000 intervals of 1 s (over coarse.LIMIT): the series are coarse, the counts exact.
    result, sink, _, _ = run_virtual(
        engine_profile(Load(concurrency=2), duration_s=3000.0), lambda t, i: 7.0 if i % 5 else 3.0
    )
    s = result.targets["a"]
    assert result.intervals >= 3000 > coarse.LIMIT
    assert len(result.timeline) <= coarse.LIMIT and len(result.health) <= coarse.LIMIT
    assert sum(c["a"].completed for _, _, c in result.timeline) == s.recorded
    assert sum(h.intervals for h in result.health) == result.intervals
    assert result.timeline[0][0] == result.start_ns and result.timeline[-1][1] == result.end_ns
    assert len(sink.statuses) == result.intervals  # the sinks still see every interval
