"""The change record: the system of record of one change, from request to outcome.

Holds the seed's fields (ID, description, risk, approvals, execution / verification / rollback steps,
outcome) plus each step's timestamps and the serving version before and after. Every state change
goes through ``transition`` so the lifecycle rules hold; times are passed in, never read from a clock.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from changeflow.domain.lifecycle import TERMINAL, check_transition
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeKind, ChangeType, Risk, State


class Phase(StrEnum):
    EXECUTION = "execution"
    VERIFICATION = "verification"
    ROLLBACK = "rollback"


class StepOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class StepRecord(BaseModel):
    name: str
    phase: Phase
    started_at: datetime
    ended_at: datetime | None = None
    outcome: StepOutcome | None = None
    detail: str = ""


class Approval(BaseModel):
    """One decision submitted on the approval form; refused ones are kept, with why."""

    approver: str
    decision: Literal["approve", "reject"]
    at: datetime
    comment: str = ""
    counted: bool = True
    refusal: str = ""


class Transition(BaseModel):
    from_state: State | None
    to_state: State
    at: datetime
    reason: str = ""


class ChangeRecord(BaseModel):
    id: str
    description: str
    type: ChangeType
    kind: ChangeKind
    model: str
    requester: str
    risk: Risk
    risk_reasons: list[str] = Field(default_factory=list)
    state: State = State.REQUESTED
    approvals: list[Approval] = Field(default_factory=list)
    execution_steps: list[StepRecord] = Field(default_factory=list)
    verification_steps: list[StepRecord] = Field(default_factory=list)
    rollback_steps: list[StepRecord] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)
    serving_version_before: int | None = None
    serving_version_after: int | None = None
    production_touched: bool = False
    executor: dict[str, str] = Field(default_factory=dict, description="host, pid and flow run executing the change")
    slot_start: datetime | None = None
    slot_end: datetime | None = None
    review: str = ""
    attachments: dict[str, str] = Field(default_factory=dict, description="e.g. the exact config a rollback restores")
    outcome: str = ""
    request: ChangeRequest | None = None

    @classmethod
    def open(cls, request: ChangeRequest, risk: Risk, at: datetime) -> "ChangeRecord":
        record = cls(
            id=request.id,
            description=request.description,
            type=request.type,
            kind=request.kind,
            model=request.model,
            requester=request.requester,
            risk=risk,
            request=request,
        )
        record.transitions.append(Transition(from_state=None, to_state=State.REQUESTED, at=at, reason="change requested"))
        return record

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    def transition(self, to: State, at: datetime, reason: str = "") -> None:
        check_transition(self.state, to)
        self.transitions.append(Transition(from_state=self.state, to_state=to, at=at, reason=reason))
        self.state = to
        if to in TERMINAL or to is State.REVIEW_PENDING:
            self.outcome = reason or to.value

    def _steps(self, phase: Phase) -> list[StepRecord]:
        return {Phase.EXECUTION: self.execution_steps, Phase.VERIFICATION: self.verification_steps, Phase.ROLLBACK: self.rollback_steps}[phase]

    def start_step(self, phase: Phase, name: str, at: datetime) -> StepRecord:
        step = StepRecord(name=name, phase=phase, started_at=at)
        self._steps(phase).append(step)
        return step

    def finish_step(self, phase: Phase, name: str, at: datetime, outcome: StepOutcome, detail: str = "") -> StepRecord:
        """Close the latest open step of that name (re-running a step after a crash opens a new one)."""
        for step in reversed(self._steps(phase)):
            if step.name == name and step.ended_at is None:
                step.ended_at, step.outcome, step.detail = at, outcome, detail
                return step
        raise ValueError(f"no open {phase} step named '{name}' on {self.id}")
