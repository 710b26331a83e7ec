"""Arrival plans: exact constant schedules, Poisson and gamma statistics, ramps, steps, pauses."""

from __future__ import annotations

import itertools
import statistics

import pytest

from loadtest.arrivals import Segment, offsets, segments, total_duration


def _gaps(xs: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(xs)]


def test_constant_rate_is_an_exact_grid_from_zero() -> None:
    xs = list(offsets(segments([(10.0, 10.0)]), "constant"))
    assert len(xs) == 100
    assert xs == pytest.approx([i / 10 for i in range(100)])


@pytest.mark.parametrize(
    ("arrivals", "burstiness", "cv"),
    [("poisson", 1.0, 1.0), ("gamma", 1.0, 1.0), ("gamma", 0.25, 2.0), ("gamma", 4.0, 0.5)],
)
def test_random_arrivals_keep_the_rate_and_their_variability(
    arrivals: str, burstiness: float, cv: float
) -> None:
    rate, seconds = 50.0, 2000.0
    xs = list(offsets(segments([(seconds, rate)]), arrivals, seed=1, burstiness=burstiness))
    assert len(xs) / seconds == pytest.approx(rate, rel=0.02)
    gaps = _gaps(xs)
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(cv, rel=0.05)
    assert xs == sorted(xs) and xs[0] > 0 and xs[-1] < seconds


def test_seed_reproduces_the_schedule() -> None:
    plan = segments([(20.0, 30.0)])
    assert list(offsets(plan, "poisson", seed=3)) == list(offsets(plan, "poisson", seed=3))
    assert list(offsets(plan, "poisson", seed=3)) != list(offsets(plan, "poisson", seed=4))


def test_linear_ramp_then_steady() -> None:
    plan = segments([(20.0, 10.0)], ramp_up_s=10.0)
    assert plan == [Segment(10.0, 0.0, 10.0), Segment(10.0, 10.0, 10.0)]
    xs = list(offsets(plan, "constant"))
    # 50 expected in the ramp (area of the triangle), 100 after it.
    assert sum(x < 10 for x in xs) == 50 and sum(x >= 10 for x in xs) == 100
    # In the ramp the k-th arrival is where t^2/2 = k (rate grows 1/s per s): t = sqrt(2k).
    assert xs[:5] == pytest.approx([(2 * k) ** 0.5 for k in range(5)])
    ramp_gaps = _gaps([x for x in xs if x < 10])
    assert ramp_gaps == sorted(ramp_gaps, reverse=True)  # arrivals get denser


def test_steps_and_a_pause() -> None:
    plan = segments([(5.0, 4.0), (5.0, 0.0), (5.0, 20.0)])
    assert total_duration(plan) == 15.0
    xs = list(offsets(plan, "constant"))
    assert sum(x < 5 for x in xs) == 20
    assert not any(5 <= x < 10 for x in xs)
    assert sum(x >= 10 for x in xs) == 100
    assert xs[20] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("steps", "kwargs", "message"),
    [([(0.0, 1.0)], {}, "duration must be > 0"), ([(1.0, -1.0)], {}, "rate >= 0")],
)
def test_bad_steps(
    steps: list[tuple[float, float]], kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        segments(steps, **kwargs)


@pytest.mark.parametrize(("arrivals", "burstiness"), [("uniform", 1.0), ("gamma", 0.0)])
def test_bad_arrival_kinds(arrivals: str, burstiness: float) -> None:
    with pytest.raises(ValueError):
        list(offsets(segments([(1.0, 1.0)]), arrivals, burstiness=burstiness))
