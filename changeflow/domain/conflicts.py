"""Collisions between changes to the same model: overlapping windows get a warning on the plan.

(Execution itself is serialised per model by a lock; this tells people before they schedule.)
"""

from __future__ import annotations

from datetime import datetime

from changeflow.domain.record import TERMINAL, ChangeRecord
from changeflow.domain.request import ChangeRequest


def _span(record: ChangeRecord) -> tuple[datetime | None, datetime | None]:
    if record.slot_start and record.slot_end:
        return record.slot_start, record.slot_end
    window = record.request.window if record.request else None
    return (window.not_before, window.deadline) if window else (None, None)


def window_conflicts(request: ChangeRequest, records: list[ChangeRecord]) -> list[str]:
    """Warnings for open changes to the same model whose slot or requested window overlaps this request's."""
    start, end = request.window.not_before, request.window.deadline
    warnings = []
    for other in records:
        if other.id == request.id or other.model != request.model or other.state in TERMINAL:
            continue
        other_start, other_end = _span(other)
        overlaps = (start is None or other_end is None or start < other_end) and (end is None or other_start is None or other_start < end)
        if overlaps:
            when = f"{other_start:%Y-%m-%d %H:%M %Z} – {other_end:%Y-%m-%d %H:%M %Z}" if other_start and other_end else "an open window"
            warnings.append(f"{other.id} ({other.state.value}) also changes {request.model} in {when}; they will run one after the other")
    return warnings
