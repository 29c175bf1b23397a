"""The change record and its lifecycle: the system of record of one change, from request to outcome.

``requested → assessed → approved → scheduled → executing → verifying → closed``, with the exits
``rejected`` (refused by policy or an approver), ``expired`` (no decision or no window in time),
``aborted`` (stopped before production was touched) and ``rolled_back`` (production restored and
verified). Emergency changes pass through ``review_pending`` until their post-implementation review.

Two kinds of record nobody requested: an *unauthorized* change (production drifted from its approved
state) opens ``detected`` and ends ``rolled_back`` (reverted and verified) or ``closed`` (production is
back as approved, or a later governed change took over); a *baseline* opens ``closed``: the state a new
installation found, adopted as approved (``domain.drift``).

A record holds ID, description, risk, approvals, execution / verification / rollback steps with their
times, the serving version before and after, and the outcome. Every state change goes through
``transition`` so the lifecycle holds; times are passed in, never read from a clock.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from changeflow.domain.drift import Drift
from changeflow.domain.request import ChangeRequest, ChangeType, Risk
from changeflow.exceptions import IllegalTransition


class State(StrEnum):
    REQUESTED = "requested"
    ASSESSED = "assessed"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    EXECUTING = "executing"
    VERIFYING = "verifying"
    REVIEW_PENDING = "review_pending"  # emergency changes: done, post-implementation review owed
    CLOSED = "closed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ABORTED = "aborted"  # failed before production was touched
    ROLLED_BACK = "rolled_back"  # production restored to the previous state, then verified
    DETECTED = "detected"  # an unauthorized change seen on production, not settled yet


class Unrequested(StrEnum):
    """The type of a record the drift check opens, not a person: kept apart from governed changes."""

    UNAUTHORIZED = "unauthorized"  # production changed outside changeflow
    BASELINE = "baseline"  # the state found on first sight, adopted as approved


RecordType = ChangeType | Unrequested
GOVERNED_TYPES: frozenset[RecordType] = frozenset(ChangeType)


TRANSITIONS: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset({State.ASSESSED, State.REJECTED}),
    State.ASSESSED: frozenset({State.APPROVED, State.REJECTED, State.EXPIRED}),
    State.APPROVED: frozenset({State.SCHEDULED, State.EXPIRED, State.ABORTED}),
    State.SCHEDULED: frozenset({State.EXECUTING, State.EXPIRED, State.ABORTED}),
    State.EXECUTING: frozenset({State.VERIFYING, State.ABORTED, State.ROLLED_BACK}),
    State.VERIFYING: frozenset({State.CLOSED, State.REVIEW_PENDING, State.ROLLED_BACK}),
    State.REVIEW_PENDING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
    State.REJECTED: frozenset(),
    State.EXPIRED: frozenset(),
    State.ABORTED: frozenset(),
    State.ROLLED_BACK: frozenset(),
    State.DETECTED: frozenset({State.ROLLED_BACK, State.CLOSED}),
}

TERMINAL: frozenset[State] = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)

# Ends in which production was never changed.
UNCHANGED: frozenset[State] = frozenset({State.REJECTED, State.EXPIRED, State.ABORTED})

# States in which production may differ from the last approved state: a crash here needs compensation.
PRODUCTION_AT_RISK: frozenset[State] = frozenset({State.EXECUTING, State.VERIFYING})


def closing_state(needs_review: bool) -> State:
    """Where a change that passed verification goes: closed, or review pending (emergencies)."""
    return State.REVIEW_PENDING if needs_review else State.CLOSED


def can_transition(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: State, target: State) -> None:
    """Raise ``IllegalTransition`` naming the allowed next states when ``target`` is not one."""
    if not can_transition(current, target):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal state)"
        raise IllegalTransition(f"cannot go from '{current}' to '{target}'; allowed from '{current}': {allowed}")


class Phase(StrEnum):
    EXECUTION = "execution"
    VERIFICATION = "verification"
    ROLLBACK = "rollback"


class StepOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"


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
    proof: str = Field("", description="how identity was proven: totp, ed25519, or empty when it was not")
    plan_digest: str = Field("", description="the digest of the request and plan the decision was given on")
    signature: str = Field(
        "",
        description="ed25519: the approver's signature over change, decision, digest and name, kept to be re-verified",
    )
    totp_step: int | None = Field(None, description="totp: the 30 s step the one-time code was valid in")
    attestation: str = Field(
        "", description="totp: the accepting executor's signature over change, decision, digest, name and step"
    )
    attested_by: str = Field("", description="totp: key ID of the executor key that made the attestation")


class ReviewAttempt(BaseModel):
    """One post-implementation review sent to the executor (``domain.review`` judges it); refused ones are kept, with why."""

    reviewer: str
    at: datetime
    summary: str = ""
    counted: bool = False
    refusal: str = ""
    summary_sha256: str = Field("", description="SHA-256 of the summary (stripped), as the signature names it")
    plan_digest: str = Field(
        "", description="the plan digest the signature names: the record's, which the approvals signed"
    )
    signature: str = Field(
        "", description="the reviewer's Ed25519 signature over identity.review_message, kept to be re-verified"
    )
    key_id: str = Field(
        "", description="counted: the ID of the reviewer's key in the governance bundle that verified it"
    )


class Transition(BaseModel):
    from_state: State | None
    to_state: State
    at: datetime
    reason: str = ""


class ChangeRecord(BaseModel):
    id: str
    description: str
    type: RecordType
    kind: str
    model: str
    requester: str
    risk: Risk
    risk_reasons: list[str] = Field(default_factory=list)
    state: State = State.REQUESTED
    approvals: list[Approval] = Field(default_factory=list)
    bake_decisions: list[Approval] = Field(
        default_factory=list, description="on a doubtful bake: approve = promote anyway, reject = roll back"
    )
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
    reviews: list[ReviewAttempt] = Field(
        default_factory=list,
        description="post-implementation reviews sent: the counted one with its proof, refused ones with why",
    )
    attachments: dict[str, str] = Field(default_factory=dict, description="e.g. the exact config a rollback restores")
    outcome: str = ""
    request: ChangeRequest | None = None
    drift: Drift | None = Field(
        None, description="an unauthorized change: the approved state, what was seen, what differs"
    )

    @classmethod
    def open(cls, request: ChangeRequest, risk: Risk, at: datetime) -> ChangeRecord:
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
        record.transitions.append(
            Transition(from_state=None, to_state=State.REQUESTED, at=at, reason="change requested")
        )
        return record

    @classmethod
    def detected(cls, change_id: str, drift: Drift, at: datetime, risk: Risk = Risk.HIGH) -> ChangeRecord:
        """An unauthorized change, opened ``detected`` by the drift check."""
        record = cls(
            id=change_id,
            description=f"Unauthorized change: {drift.summary()}"[:4_000],
            type=Unrequested.UNAUTHORIZED,
            kind=drift.target.kind,
            model=drift.target.model,
            requester="changeflow-drift-check",
            risk=risk,
            drift=drift,
            state=State.DETECTED,
        )
        record.transitions.append(
            Transition(
                from_state=None,
                to_state=State.DETECTED,
                at=at,
                reason=f"seen at {drift.seen.seen_at.isoformat()}: {drift.summary()}",
            )
        )
        return record

    @classmethod
    def baseline(cls, change_id: str, model: str, kind: str, what: str, at: datetime) -> ChangeRecord:
        """The state a first check found where no record approved one, adopted as approved."""
        record = cls(
            id=change_id,
            description=f"Baseline: {what}"[:4_000],
            type=Unrequested.BASELINE,
            kind=kind,
            model=model,
            requester="changeflow-drift-check",
            risk=Risk.LOW,
            outcome="adopted as the approved state",
            state=State.CLOSED,
        )
        record.transitions.append(Transition(from_state=None, to_state=State.CLOSED, at=at, reason=f"baseline: {what}"))
        return record

    @property
    def governed(self) -> bool:
        return self.type in GOVERNED_TYPES

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    def transition(self, to: State, at: datetime, reason: str = "") -> None:
        check_transition(self.state, to)
        self.transitions.append(Transition(from_state=self.state, to_state=to, at=at, reason=reason))
        self.state = to
        if to in UNCHANGED and self.serving_version_after is None:
            self.serving_version_after = self.serving_version_before  # production was not changed: what served, serves
        if to in TERMINAL or to is State.REVIEW_PENDING:
            self.outcome = reason or to.value

    def _steps(self, phase: Phase) -> list[StepRecord]:
        return {
            Phase.EXECUTION: self.execution_steps,
            Phase.VERIFICATION: self.verification_steps,
            Phase.ROLLBACK: self.rollback_steps,
        }[phase]

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
        raise IllegalTransition(f"no open {phase} step named '{name}' on {self.id}")


ROLLBACK_MS = "rollback_ms"  # attachment: how long the restore itself took, as the rollback measured it


def _measured(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


class ChangeResult(BaseModel):
    """What a change flow returns: the change's end state and the versions around it."""

    change_id: str
    kind: str
    model: str
    state: State
    outcome: str
    serving_version_before: int | None = None
    serving_version_after: int | None = None
    rollback_ms: float | None = None

    @classmethod
    def of(cls, record: ChangeRecord, rollback_ms: float | None = None) -> ChangeResult:
        return cls(
            change_id=record.id,
            kind=record.kind,
            model=record.model,
            state=record.state,
            outcome=record.outcome,
            serving_version_before=record.serving_version_before,
            serving_version_after=record.serving_version_after,
            rollback_ms=rollback_ms if rollback_ms is not None else _measured(record.attachments.get(ROLLBACK_MS)),
        )


class RollbackResult(BaseModel):
    change_id: str
    state: State
    restored: str
    verified: str
    rollback_ms: float | None = None
