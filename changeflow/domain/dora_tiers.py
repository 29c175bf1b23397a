"""Where each DORA key stands and which way it moved: the performance tiers of the DORA research
(Accelerate State of DevOps 2023) and the trend against the period before. Pure; the HTML report shows it.

Tiers, by key (a value on a boundary takes the better tier):

- deployment frequency: elite at least daily, high at least weekly, medium at least monthly, low below;
- lead time for changes: elite under a day, high under a week, medium under a month, low above;
- change fail rate: elite 5 % or less, high 10 %, medium 15 %, low above;
- failed-deployment recovery time: elite under an hour, high under a day, medium under a week, low above.
"""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel

from changeflow.domain.dora import DoraReport


class Tier(StrEnum):
    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Key(BaseModel, frozen=True):
    """One DORA key as the report shows it: its value, tier, and the change against the period before."""

    name: str
    value: float | None
    unit: str
    tier: Tier | None
    previous: float | None
    trend: str  # "better", "worse", "same" or "" (nothing to compare)


# key -> (report field, unit, higher is better, the elite/high/medium bounds)
KEYS = {
    "Deployment frequency": ("deployment_frequency_per_day", "per day", True, (1.0, 1 / 7, 1 / 30)),
    "Lead time for changes (median)": ("lead_time_hours_median", "h", False, (24.0, 168.0, 720.0)),
    "Change fail rate": ("change_fail_rate", "", False, (0.05, 0.10, 0.15)),
    "Failed-deployment recovery time (median)": ("recovery_minutes_median", "min", False, (60.0, 1440.0, 10080.0)),
}


def tier(value: float | None, higher_is_better: bool, bounds: tuple[float, float, float]) -> Tier | None:
    """The tier of ``value``; None when there is no value (or it is not a number) to place."""
    if value is None or not math.isfinite(value):
        return None
    for bound, placed in zip(bounds, (Tier.ELITE, Tier.HIGH, Tier.MEDIUM), strict=True):
        if (value >= bound) if higher_is_better else (value <= bound):
            return placed
    return Tier.LOW


def trend(value: float | None, previous: float | None, higher_is_better: bool, tolerance: float = 0.05) -> str:
    """Which way the key moved since the period before (within ``tolerance`` of it: the same)."""
    if value is None or previous is None or not (math.isfinite(value) and math.isfinite(previous)):
        return ""
    if abs(value - previous) <= tolerance * max(abs(previous), 1e-9):
        return "same"
    return "better" if (value > previous) == higher_is_better else "worse"


def keys(report: DoraReport, before: DoraReport | None) -> list[Key]:
    """The four keys of ``report``, each placed in its tier and compared with ``before``."""
    shown = []
    for name, (field, unit, higher, bounds) in KEYS.items():
        value = getattr(report, field)
        previous = getattr(before, field) if before is not None else None
        shown.append(
            Key(
                name=name,
                value=value,
                unit=unit,
                tier=tier(value, higher, bounds),
                previous=previous,
                trend=trend(value, previous, higher),
            )
        )
    return shown
