"""Typed results of the change flows."""

from __future__ import annotations

from pydantic import BaseModel

from changeflow.domain.record import ChangeRecord
from changeflow.domain.types import ChangeKind, State


class ChangeResult(BaseModel):
    change_id: str
    kind: ChangeKind
    model: str
    state: State
    outcome: str
    serving_version_before: int | None = None
    serving_version_after: int | None = None
    rollback_ms: float | None = None

    @classmethod
    def of(cls, record: ChangeRecord, rollback_ms: float | None = None) -> "ChangeResult":
        return cls(
            change_id=record.id,
            kind=record.kind,
            model=record.model,
            state=record.state,
            outcome=record.outcome,
            serving_version_before=record.serving_version_before,
            serving_version_after=record.serving_version_after,
            rollback_ms=rollback_ms,
        )


class RollbackResult(BaseModel):
    change_id: str
    state: State
    restored: str
    verified: str
    rollback_ms: float | None = None
