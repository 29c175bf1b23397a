"""``bench/detect.py`` keeps the slow version at the shift its row names, measured by the bakes themselves
(the row once claimed +40 % while the bakes saw +12-15 %)."""

import math
import random

import pytest

from bench.detect_knob import Knob, measured_shift
from changeflow.domain.comparison import PairedObservations, VersionObservations


def observed(old: list[float], new: list[float]) -> PairedObservations:
    return PairedObservations(
        baseline=VersionObservations(version=2, latencies_ms=tuple(old)),
        candidate=VersionObservations(version=5, latencies_ms=tuple(new)),
    )


def test_the_measured_shift_is_the_candidates_p50_over_the_old_versions():
    assert measured_shift(observed([1.0, 1.0, 2.0], [1.4, 1.4, 9.0])) == pytest.approx(0.4)


def test_no_answers_or_no_figure_is_no_measurement():
    assert measured_shift(None) is None
    assert measured_shift(observed([], [1.0])) is None
    assert measured_shift(observed([math.nan], [1.0])) is None


def test_the_knob_settles_on_the_target_when_the_base_latency_moves():
    """A fixed delay over a base latency that doubles halfway (the bakes' load): the knob follows it."""
    rng = random.Random(7)
    knob, seen = Knob(value=0.2, target=0.4), []
    for bake in range(60):
        base_ms = 0.8 if bake < 30 else 1.6
        shift = knob.value / base_ms * rng.uniform(0.85, 1.15)  # one bake's noisy measurement
        seen.append(shift)
        knob.update(shift)
    assert statistics_p50(seen[15:30]) == pytest.approx(0.4, abs=0.05)
    assert statistics_p50(seen[45:]) == pytest.approx(0.4, abs=0.05)


def test_a_windowed_knob_holds_the_target_through_wild_measurements():
    """One bake in four measures far off (flat-out load): a window's median keeps the setting near what
    buys the target, where a one-bake knob is thrown about."""
    rng = random.Random(11)

    windowed, single = Knob(value=0.2, target=0.4, max_step=1.25, window=5), Knob(value=0.2, target=0.4, max_step=1.25)
    for knob in (windowed, single):
        for bake in range(80):
            wild = 3.0 if bake % 4 == 1 else (0.2 if bake % 4 == 3 else 1.0)
            knob.update(knob.value * wild * rng.uniform(0.9, 1.1))  # a 1 ms base: the true shift is the setting
    late = windowed.history[40:]
    assert all(0.3 <= v <= 0.55 for v in late), late
    assert max(single.history[40:]) / min(single.history[40:]) > max(late) / min(late)


def test_a_missing_or_tiny_measurement_never_divides_by_zero_and_steps_are_bounded():
    knob = Knob(value=1.0, target=0.4)
    assert knob.update(None) == 1.0 and knob.update(math.nan) == 1.0
    assert knob.update(0.0) == 2.0  # nothing measurable: the largest step up
    assert knob.update(100.0) == 1.0  # far over: the largest step down
    assert knob.summary()["bakes_measured"] == 2


def test_a_knob_that_could_not_move_is_refused():
    with pytest.raises(ValueError, match="knob"):
        Knob(value=0.0, target=0.4)


def statistics_p50(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]
