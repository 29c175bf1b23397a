"""How ``bench/detect.py`` keeps a slow version at the shift its row names, as the bakes measure it.

Calibrating once, before the bakes, did not hold: in run 4 v5 was set to +37.7 % but the bakes measured
+12-15 %, because the old version's latency under the bakes' load was far above what the calibration saw,
and a fixed delay is a smaller share of a larger latency. So every bake reports the shift its own paired
probes measured (the candidate's p50 over the old version's: latency, or the first response for a stream),
and a ``Knob`` moves the slow version's setting toward the target from those measurements, bake after
bake, the way the delay would follow the load in a real regression. Pure: no Triton, unit-tested.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

from changeflow.domain.comparison import PairedObservations


def measured_shift(observed: PairedObservations | None) -> float | None:
    """The candidate's p50 over the old version's, minus one, from one bake's paired probes (the time to
    the first response for a stream: what ``latencies_ms`` holds); None when either side has no answer."""
    if observed is None or not observed.candidate.latencies_ms or not observed.baseline.latencies_ms:
        return None
    old = statistics.median(observed.baseline.latencies_ms)
    new = statistics.median(observed.candidate.latencies_ms)
    return new / old - 1.0 if old > 0 and math.isfinite(old) and math.isfinite(new) else None


class Knob:
    """A slow version's setting (extra milliseconds, or a share of the first token's time) steered so the
    shift the bakes measure stays at ``target``. The shift grows in proportion to the setting, so each
    step multiplies it by (target / measured) ** ``gain``, at most ``max_step`` either way: damped, since
    one bake's measurement is noisy. A measurement that is missing, not a number or too small to divide
    by leaves the setting as it is.

    ``window`` > 1: the knob steers from the median of the last ``window`` measurements, each divided by
    the setting it was measured at (the shift one unit of setting buys), so one wild measurement under
    flat-out load does not throw the setting off for the bakes after it."""

    def __init__(self, value: float, target: float, gain: float = 0.5, max_step: float = 2.0, window: int = 1) -> None:
        if not (value > 0 and target > 0 and 0 < gain <= 1 and max_step > 1 and window >= 1):
            raise ValueError("knob: value and target must be > 0, gain in (0, 1], max_step > 1, window >= 1")
        self.value, self.target, self.gain, self.max_step = value, target, gain, max_step
        self.measured: list[float] = []
        self.per_unit: deque[float] = deque(maxlen=window)
        self.history: list[float] = []  # the setting after each measured bake

    def update(self, shift: float | None) -> float:
        """Take one bake's measured shift; returns the setting for the next bake."""
        if shift is None or not math.isfinite(shift):
            return self.value
        self.measured.append(shift)
        if self.per_unit.maxlen > 1:
            self.per_unit.append(shift / self.value)
            shift = statistics.median(self.per_unit) * self.value  # what the setting buys, over the window
        if shift < 0.02:  # no measurable shift: the largest step up
            factor = self.max_step
        else:
            factor = min(self.max_step, max(1.0 / self.max_step, (self.target / shift) ** self.gain))
        self.value *= factor
        self.history.append(self.value)
        return self.value

    def summary(self) -> dict[str, float | int | None]:
        """The measured shifts of the bakes: their median, range and count."""
        return {**shift_summary(self.measured), "bakes_measured": len(self.measured)}


def shift_summary(shifts: list[float]) -> dict[str, float | None]:
    """Shifts measured over bakes: their median and range (None when there are none)."""
    return {
        "measured_shift_p50": round(statistics.median(shifts), 3) if shifts else None,
        "measured_shift_min": round(min(shifts), 3) if shifts else None,
        "measured_shift_max": round(max(shifts), 3) if shifts else None,
    }
