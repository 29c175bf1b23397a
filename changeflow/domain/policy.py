"""What each change type demands, and how a change is judged before it runs: risk, approvals, plan.

- the type table (standard / normal / emergency): baseline risk, approval pool and quorum, windows,
  freeze override, post-implementation review;
- risk: a score from the kind, live traffic, size, recent failures and the window; every point is a
  reason on the record; never below the type's baseline, and a higher risk raises the CAB quorum;
- approvals: one decision at a time (on the allowlist, not the requester, counted once), until quorum;
- the pre-change checklist that gates ``executing``: facts are gathered by machine where they can be
  (live server, metrics endpoint), each item decided here with its reason;
- the plan: the kind's steps with who approves and when it may run, printed by a dry run.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.names import person
from changeflow.domain.request import ChangeRequest, ChangeType, KindPlan, PlannedStep, Risk


class WindowClass(StrEnum):
    BUSINESS_HOURS = "business_hours"
    OFF_HOURS = "off_hours"
    PLANNED_MAINTENANCE = "planned_maintenance"
    ANY_TIME = "any_time"


class ApprovalPool(StrEnum):
    PRE_APPROVED = "pre_approved"  # standard change catalog: approved once, as a template
    CAB = "change_advisory_board"
    EMERGENCY = "emergency_approvers"


class TypePolicy(BaseModel, frozen=True):
    type: ChangeType
    baseline_risk: Risk
    approval_pool: ApprovalPool
    approvals_required: int
    windows: tuple[WindowClass, ...]
    high_risk_windows: tuple[WindowClass, ...]
    freeze_override: bool
    post_implementation_review: bool

    def approvals_for(self, risk: Risk) -> int:
        """A CAB quorum rises by one for each risk level above the type's baseline."""
        if self.approval_pool is not ApprovalPool.CAB:
            return self.approvals_required
        return self.approvals_required + max(0, risk.rank - self.baseline_risk.rank)

    def windows_for(self, risk: Risk) -> tuple[WindowClass, ...]:
        return self.high_risk_windows if risk is Risk.HIGH else self.windows


POLICIES: dict[ChangeType, TypePolicy] = {
    ChangeType.STANDARD: TypePolicy(
        type=ChangeType.STANDARD,
        baseline_risk=Risk.LOW,
        approval_pool=ApprovalPool.PRE_APPROVED,
        approvals_required=0,
        windows=(WindowClass.BUSINESS_HOURS,),
        high_risk_windows=(WindowClass.BUSINESS_HOURS,),
        freeze_override=False,
        post_implementation_review=False,
    ),
    ChangeType.NORMAL: TypePolicy(
        type=ChangeType.NORMAL,
        baseline_risk=Risk.MEDIUM,
        approval_pool=ApprovalPool.CAB,
        approvals_required=2,
        windows=(WindowClass.OFF_HOURS, WindowClass.PLANNED_MAINTENANCE),
        high_risk_windows=(WindowClass.PLANNED_MAINTENANCE,),
        freeze_override=False,
        post_implementation_review=False,
    ),
    ChangeType.EMERGENCY: TypePolicy(
        type=ChangeType.EMERGENCY,
        baseline_risk=Risk.HIGH,
        approval_pool=ApprovalPool.EMERGENCY,
        approvals_required=1,
        windows=(WindowClass.ANY_TIME,),
        high_risk_windows=(WindowClass.ANY_TIME,),
        freeze_override=True,
        post_implementation_review=True,
    ),
}


def policy_for(change_type: ChangeType) -> TypePolicy:
    return POLICIES[change_type]


# --- risk ------------------------------------------------------------------------------------------


class RiskInputs(BaseModel, frozen=True):
    """What risk is scored from. ``kind_points``, ``size`` and ``peak_hours_risk`` come from the change kind."""

    kind_points: int = 2
    size: tuple[int, str] | None = None
    peak_hours_risk: bool = True
    requests_per_s: float = 0.0
    recent_failed_changes: int = 0
    window: WindowClass | None = None


class RiskAssessment(BaseModel, frozen=True):
    risk: Risk
    score: int
    reasons: tuple[str, ...]


def assess_risk(request: ChangeRequest, inputs: RiskInputs) -> RiskAssessment:
    points: list[tuple[int, str]] = [(inputs.kind_points, request.kind.replace("_", " "))]
    if inputs.requests_per_s >= 1000:
        points.append((2, f"live traffic {inputs.requests_per_s:.0f} req/s >= 1000"))
    elif inputs.requests_per_s >= 50:
        points.append((1, f"live traffic {inputs.requests_per_s:.0f} req/s >= 50"))
    else:
        points.append((0, f"live traffic {inputs.requests_per_s:.1f} req/s"))
    if inputs.size:
        points.append(inputs.size)
    if inputs.recent_failed_changes:
        points.append(
            (
                min(2, inputs.recent_failed_changes),
                f"{inputs.recent_failed_changes} recent failed change(s) to {request.model}",
            )
        )
    if inputs.window is WindowClass.BUSINESS_HOURS and inputs.peak_hours_risk:
        points.append((1, "runs during business hours (peak traffic)"))
    score = sum(p for p, _ in points)
    reasons = [f"{why}: +{p}" for p, why in points]
    computed = Risk.LOW if score <= 2 else Risk.MEDIUM if score <= 4 else Risk.HIGH
    baseline = policy_for(request.type).baseline_risk
    risk = max(computed, baseline, key=lambda r: r.rank)
    raised = f", raised to the {request.type.value} baseline {baseline.value}" if risk is not computed else ""
    reasons.append(f"score {score} → {computed.value}{raised}")
    return RiskAssessment(risk=risk, score=score, reasons=tuple(reasons))


# --- approvals -------------------------------------------------------------------------------------


class Approvers(BaseModel):
    """Allowlists per approval pool (who sits on the CAB, who may approve emergencies)."""

    model_config = ConfigDict(extra="forbid")
    change_advisory_board: list[str] = Field(default_factory=list)
    emergency_approvers: list[str] = Field(default_factory=list)

    def pool(self, pool: ApprovalPool) -> list[str]:
        return {ApprovalPool.CAB: self.change_advisory_board, ApprovalPool.EMERGENCY: self.emergency_approvers}.get(
            pool, []
        )


class Decision(BaseModel, frozen=True):
    approve: bool
    approver: str
    comment: str = ""


class Judgement(BaseModel, frozen=True):
    accepted: bool
    reason: str


def judge(
    decision: Decision, *, requester: str, policy: TypePolicy, approvers: Approvers, already: list[str]
) -> Judgement:
    """Whether one decision counts. A rejection counts only from someone entitled to approve."""
    who = person(decision.approver)
    allowed = [person(name) for name in approvers.pool(policy.approval_pool)]
    if not who:
        return Judgement(accepted=False, reason="no approver named")
    if who == requester:
        return Judgement(accepted=False, reason=f"{who} requested this change and cannot approve it")
    if who not in allowed:
        return Judgement(
            accepted=False,
            reason=f"{who} is not on the {policy.approval_pool.value.replace('_', ' ')} list ({', '.join(allowed) or 'empty'})",
        )
    if who in {person(name) for name in already}:
        return Judgement(accepted=False, reason=f"{who} has already approved; each approver counts once")
    verb = "approves" if decision.approve else "rejects"
    return Judgement(accepted=True, reason=f"{who} {verb}" + (f": {decision.comment}" if decision.comment else ""))


def quorum_reached(approved_by: list[str], required: int) -> bool:
    return len(set(approved_by)) >= required


# --- the pre-change checklist --------------------------------------------------------------------


class ChecklistFacts(BaseModel, frozen=True):
    plan_steps: int
    rollback_steps: int
    previous_available: bool | None  # None: not applicable to this kind
    previous_detail: str
    window: WindowClass
    window_name: str
    on_call_notified_by_event: bool = False
    metrics_answer: bool
    metrics_detail: str
    model_control: tuple[bool, str] | None = None  # None: the kind loads no models
    desired_state: tuple[bool, str] | None = None  # None: the kind writes no model repository


class ChecklistItem(BaseModel, frozen=True):
    name: str
    ok: bool
    reason: str


def evaluate_checklist(request: ChangeRequest, facts: ChecklistFacts) -> list[ChecklistItem]:
    comms = request.communication
    announced = comms.announced_in or (
        facts.window is WindowClass.PLANNED_MAINTENANCE and f"maintenance window {facts.window_name}"
    )
    items = [
        ChecklistItem(
            name="change documented",
            ok=facts.plan_steps > 0,
            reason=f"description and a plan of {facts.plan_steps} steps",
        ),
        ChecklistItem(
            name="rollback plan defined",
            ok=bool(request.rollback_plan) and facts.rollback_steps > 0,
            reason=f"{facts.rollback_steps} rollback steps: {request.rollback_plan}",
        ),
        ChecklistItem(
            name="previous version available",
            ok=facts.previous_available is not False,
            reason=facts.previous_detail if facts.previous_available is not None else "not applicable to this kind",
        ),
    ]
    if request.type is ChangeType.EMERGENCY:
        items.append(
            ChecklistItem(name="window communicated", ok=True, reason="waived for an emergency change (on the record)")
        )
    else:
        items.append(
            ChecklistItem(
                name="window communicated",
                ok=bool(announced),
                reason=f"announced in {announced}" if announced else "no announcement: set communication.announced_in",
            )
        )
    if comms.on_call_ack:
        items.append(ChecklistItem(name="on-call notified", ok=True, reason=f"acknowledged by {comms.on_call_ack}"))
    elif facts.on_call_notified_by_event:
        items.append(
            ChecklistItem(name="on-call notified", ok=True, reason="change event delivered to incident management")
        )
    else:
        items.append(
            ChecklistItem(name="on-call notified", ok=False, reason="no acknowledgement: set communication.on_call_ack")
        )
    items.append(ChecklistItem(name="monitoring ready", ok=facts.metrics_answer, reason=facts.metrics_detail))
    if facts.model_control is not None:
        items.append(
            ChecklistItem(name="servers accept model loads", ok=facts.model_control[0], reason=facts.model_control[1])
        )
    if facts.desired_state is not None:
        items.append(
            ChecklistItem(
                name="desired state kept in the repository",
                ok=facts.desired_state[0],
                reason=facts.desired_state[1],
            )
        )
    return items


def blocking(items: list[ChecklistItem]) -> list[ChecklistItem]:
    return [item for item in items if not item.ok]


# --- the plan --------------------------------------------------------------------------------------


class ChangePlan(BaseModel, frozen=True):
    change_id: str
    type: ChangeType
    kind: str
    model: str
    risk: Risk
    approval_pool: ApprovalPool
    approvals_required: int
    windows: tuple[WindowClass, ...]
    post_implementation_review: bool
    touches: tuple[str, ...]
    execution_steps: tuple[PlannedStep, ...]
    verification_steps: tuple[PlannedStep, ...]
    rollback_steps: tuple[PlannedStep, ...]
    rollback_plan: str
    warnings: tuple[str, ...] = ()


def plan_change(
    request: ChangeRequest, steps: KindPlan, risk: Risk | None = None, warnings: tuple[str, ...] = ()
) -> ChangePlan:
    """The kind's ``steps`` with the type's governance; ``risk`` defaults to the baseline until assessed."""
    policy = policy_for(request.type)
    risk = risk or policy.baseline_risk
    return ChangePlan(
        change_id=request.id,
        type=request.type,
        kind=request.kind,
        model=request.model,
        risk=risk,
        approval_pool=policy.approval_pool,
        approvals_required=policy.approvals_for(risk),
        windows=policy.windows_for(risk),
        post_implementation_review=policy.post_implementation_review,
        touches=steps.touches,
        execution_steps=steps.execution,
        verification_steps=steps.verification,
        rollback_steps=steps.rollback,
        rollback_plan=request.rollback_plan,
        warnings=warnings,
    )
