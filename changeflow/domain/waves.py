"""Waves: a model deployment promotes to part of a fleet first (the first replica is the canary), bakes,
then widens. Governance sets them per change type (``verification.yaml``: ``waves``); a wave is a number of
replicas (``1``) or a share of them (``"50%"``), the list rising and ending at ``"100%"``.

Pure: which replicas each wave reaches, and how much of the model's traffic the candidate carried.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from changeflow.domain.serving import MetricsSnapshot


def _wave(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise ValueError("a wave is a number of replicas (1) or a share of them ('50%'), not a boolean")
    if not isinstance(value, int | str):
        raise ValueError(f"wave {value!r} is not a number of replicas or a share such as '50%'")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"a wave of {value} replicas reaches none; use 1 or more")
        return value
    text = str(value).strip()
    number = text[:-1] if text.endswith("%") else None
    if number is None or not number.replace(".", "", 1).isdigit() or not 0 < float(number) <= 100:
        raise ValueError(f"wave {value!r} is not a number of replicas or a share such as '50%' (above 0, at most 100)")
    return text


def _waves(values: tuple[int | str, ...]) -> tuple[int | str, ...]:
    if not values or values[-1] != "100%":
        raise ValueError(f"waves {list(values)} must end with '100%': a change reaches every replica or rolls back")
    return values


Wave = Annotated[int | str, BeforeValidator(_wave)]  # before: a YAML `true` must not pass as 1
Waves = Annotated[tuple[Wave, ...], AfterValidator(_waves)]
EVERYWHERE: tuple[int | str, ...] = ("100%",)
CANARY_FIRST: tuple[int | str, ...] = (1, "100%")  # a normal change's default: one replica, baked, then all


def wave_sizes(waves: Sequence[int | str], replicas: int) -> list[int]:
    """How many replicas each wave has reached, rising, the last one all of them: ``[1, "50%", "100%"]``
    over 3 replicas is ``[1, 2, 3]``; over 1 replica, ``[1]``. A share rounds up (a wave is never empty)."""
    sizes: list[int] = []
    for wave in waves:
        size = wave if isinstance(wave, int) else math.ceil(replicas * float(str(wave)[:-1]) / 100)
        size = max(1, min(replicas, size))
        if not sizes or size > sizes[-1]:
            sizes.append(size)
    if sizes[-1] != replicas:
        sizes.append(replicas)
    return sizes


def wave_label(number: int, sizes: Sequence[int]) -> str:
    """How the record names a wave ("" when the promotion is one wave: every replica at once)."""
    if len(sizes) < 2:
        return ""
    return f"wave {number} of {len(sizes)} ({sizes[number - 1]} of {sizes[-1]} replicas)"


def candidate_share(
    before: MetricsSnapshot, after: MetricsSnapshot, model: str, version: int, probes: tuple[int, int] = (0, 0)
) -> tuple[int, int]:
    """(requests ``version`` answered, requests every version of ``model`` answered) between two scrapes of
    the whole fleet, less the bake's own ``probes`` (to the candidate, to all versions): the clients' traffic."""

    def requests(snapshot: MetricsSnapshot, only: int | None) -> float:
        return sum(c.requests for c in snapshot.counters if c.model == model and (only is None or c.version == only))

    mine = requests(after, version) - requests(before, version) - probes[0]
    every = requests(after, None) - requests(before, None) - probes[1]
    return max(0, round(mine)), max(0, round(every))
