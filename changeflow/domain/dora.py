"""DORA's four keys, computed from change records alone.

- lead time: request → closed, for closed changes;
- deployment frequency: changes closed per day over the period;
- change fail rate: changes that failed in production (rolled back, or touched production and never
  closed) over changes that executed (reached ``executing``);
- failed-deployment recovery time: failure detected (the failed step that triggered the rollback
  ended) → production restored and verified (``rolled_back``).

The keys count governed changes only. Unauthorized changes (drift the check found) are counted apart:
how many, how many were reverted, how many are still open. Baseline records count nowhere.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

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
    unauthorized: int = 0
    unauthorized_reverted: int = 0
    unauthorized_open: int = 0


def _at(record: ChangeRecord, state: State) -> datetime | None:
    return next((t.at for t in record.transitions if t.to_state is state), None)


def _failed_in_production(record: ChangeRecord) -> bool:
    return record.state is State.ROLLED_BACK or (
        record.production_touched and record.state not in DONE and record.is_terminal
    )


def recovery_time(record: ChangeRecord) -> timedelta | None:
    restored = _at(record, State.ROLLED_BACK)
    if restored is None or not record.rollback_steps:
        return None
    rollback_started = min(s.started_at for s in record.rollback_steps)
    failed = [
        s.ended_at
        for s in record.execution_steps + record.verification_steps
        if s.outcome is StepOutcome.FAILED and s.ended_at and s.ended_at <= rollback_started
    ]
    detected = max(failed) if failed else rollback_started
    return restored - detected


class ChangeFacts(BaseModel):
    """What the DORA keys need of one record, small enough to keep beside it (the report reads only these)."""

    id: str
    opened_at: datetime | None
    state: State
    executed: bool
    done_at: datetime | None = Field(None, description="closed, or handed to its review")
    failed_in_production: bool
    recovery_minutes: float | None = None
    type: str | None = Field(
        None, description="the record's type; None on facts saved before types were kept (governed)"
    )
    model: str | None = Field(None, description="the model changed (the store fills it from its column)")


UNAUTHORIZED, BASELINE = "unauthorized", "baseline"


def change_facts(record: ChangeRecord) -> ChangeFacts:
    failed = bool(_at(record, State.EXECUTING)) and _failed_in_production(record)
    recovery = recovery_time(record) if failed else None
    return ChangeFacts(
        id=record.id,
        model=record.model,
        opened_at=record.transitions[0].at if record.transitions else None,
        state=record.state,
        executed=bool(_at(record, State.EXECUTING)),
        done_at=_at(record, State.CLOSED) or _at(record, State.REVIEW_PENDING),
        failed_in_production=failed,
        recovery_minutes=recovery.total_seconds() / 60 if recovery is not None else None,
        type=record.type.value,
    )


def dora_report(records: list[ChangeRecord], start: datetime, end: datetime) -> DoraReport:
    """Records whose request falls in [start, end)."""
    return dora_from_facts([change_facts(r) for r in records], start, end)


def dora_from_facts(facts: list[ChangeFacts], start: datetime, end: datetime) -> DoraReport:
    """The keys from each change's facts (``change_facts``), for changes requested in [start, end)."""
    in_period = [f for f in facts if f.opened_at is not None and start <= f.opened_at < end]
    chosen = [f for f in in_period if f.type not in (UNAUTHORIZED, BASELINE)]
    drifts = [f for f in in_period if f.type == UNAUTHORIZED]
    executed = [f for f in chosen if f.executed]
    closed = [f for f in chosen if f.done_at is not None or f.state is State.REVIEW_PENDING]
    failed = [f for f in executed if f.failed_in_production]
    leads = [(f.done_at - f.opened_at).total_seconds() / 3600 for f in closed if f.done_at is not None]
    recoveries = [f.recovery_minutes for f in failed if f.recovery_minutes is not None]
    days = max((end - start).total_seconds() / 86400, 1e-9)
    per_day: dict[str, dict[str, int]] = {}
    states: dict[str, int] = {}
    for f in chosen:
        day = f.opened_at.date().isoformat()
        per_day.setdefault(day, {}).setdefault(f.state.value, 0)
        per_day[day][f.state.value] += 1
        states[f.state.value] = states.get(f.state.value, 0) + 1
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
        unauthorized=len(drifts),
        unauthorized_reverted=sum(f.state is State.ROLLED_BACK for f in drifts),
        unauthorized_open=sum(f.state is State.DETECTED for f in drifts),
    )


def dora_per_model(facts: list[ChangeFacts], start: datetime, end: datetime) -> dict[str, DoraReport]:
    """The keys of each model's governed changes in [start, end), by model name (drift is not a change)."""
    facts = [f for f in facts if f.type not in (UNAUTHORIZED, BASELINE)]
    models = sorted({f.model or "(unknown)" for f in facts})
    return {m: dora_from_facts([f for f in facts if (f.model or "(unknown)") == m], start, end) for m in models}
