"""DORA's four keys, computed from change records alone.

- lead time: request → closed, for closed changes;
- deployment frequency: changes closed per day over the period;
- change fail rate: changes that failed in production (rolled back, or touched production and never
  closed) over changes that executed (reached ``executing``);
- failed-deployment recovery time: failure detected (the failed step that triggered the rollback
  ended) → production restored and verified (``rolled_back``).
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from pydantic import BaseModel

from changeflow.domain.record import ChangeRecord, State, StepOutcome

DONE = {State.CLOSED, State.REVIEW_PENDING}


class DoraReport(BaseModel):
    period_start: datetime
    period_end: datetime
    changes: int
    executed: int
    deployments: int
    failed: int
    deployment_frequency_per_day: float
    lead_time_hours_median: float | None
    lead_time_hours_mean: float | None
    change_fail_rate: float | None
    recovery_minutes_median: float | None
    states: dict[str, int]
    per_day: dict[str, dict[str, int]]


def _at(record: ChangeRecord, state: State) -> datetime | None:
    return next((t.at for t in record.transitions if t.to_state is state), None)


def _failed_in_production(record: ChangeRecord) -> bool:
    return record.state is State.ROLLED_BACK or (record.production_touched and record.state not in DONE and record.is_terminal)


def recovery_time(record: ChangeRecord) -> timedelta | None:
    restored = _at(record, State.ROLLED_BACK)
    if restored is None or not record.rollback_steps:
        return None
    rollback_started = min(s.started_at for s in record.rollback_steps)
    failed = [s.ended_at for s in record.execution_steps + record.verification_steps if s.outcome is StepOutcome.FAILED and s.ended_at and s.ended_at <= rollback_started]
    detected = max(failed) if failed else rollback_started
    return restored - detected


def dora_report(records: list[ChangeRecord], start: datetime, end: datetime) -> DoraReport:
    """Records whose request falls in [start, end)."""
    chosen = [r for r in records if r.transitions and start <= r.transitions[0].at < end]
    executed = [r for r in chosen if _at(r, State.EXECUTING)]
    closed = [r for r in chosen if _at(r, State.CLOSED) or r.state is State.REVIEW_PENDING]
    failed = [r for r in executed if _failed_in_production(r)]
    leads = [((_at(r, State.CLOSED) or _at(r, State.REVIEW_PENDING)) - r.transitions[0].at).total_seconds() / 3600 for r in closed]
    recoveries = [t.total_seconds() / 60 for r in failed if (t := recovery_time(r)) is not None]
    days = max((end - start).total_seconds() / 86400, 1e-9)
    per_day: dict[str, dict[str, int]] = {}
    states: dict[str, int] = {}
    for r in chosen:
        day = r.transitions[0].at.date().isoformat()
        per_day.setdefault(day, {}).setdefault(r.state.value, 0)
        per_day[day][r.state.value] += 1
        states[r.state.value] = states.get(r.state.value, 0) + 1
    return DoraReport(
        period_start=start,
        period_end=end,
        changes=len(chosen),
        executed=len(executed),
        deployments=len(closed),
        failed=len(failed),
        deployment_frequency_per_day=round(len(closed) / days, 4),
        lead_time_hours_median=round(statistics.median(leads), 4) if leads else None,
        lead_time_hours_mean=round(statistics.fmean(leads), 4) if leads else None,
        change_fail_rate=round(len(failed) / len(executed), 4) if executed else None,
        recovery_minutes_median=round(statistics.median(recoveries), 4) if recoveries else None,
        states=dict(sorted(states.items())),
        per_day=dict(sorted(per_day.items())),
    )
