"""What each change type demands: baseline risk, approvals, and the windows it may run in.

The table of DESIGN.md as data; risk assessment may raise the risk and with it the approvals.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from changeflow.domain.types import ChangeType, Risk


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
    freeze_override: bool
    post_implementation_review: bool

    def approvals_for(self, risk: Risk) -> int:
        """A CAB quorum rises by one for each risk level above the type's baseline."""
        if self.approval_pool is not ApprovalPool.CAB:
            return self.approvals_required
        return self.approvals_required + max(0, risk.rank - self.baseline_risk.rank)


POLICIES: dict[ChangeType, TypePolicy] = {
    ChangeType.STANDARD: TypePolicy(
        type=ChangeType.STANDARD,
        baseline_risk=Risk.LOW,
        approval_pool=ApprovalPool.PRE_APPROVED,
        approvals_required=0,
        windows=(WindowClass.BUSINESS_HOURS,),
        freeze_override=False,
        post_implementation_review=False,
    ),
    ChangeType.NORMAL: TypePolicy(
        type=ChangeType.NORMAL,
        baseline_risk=Risk.MEDIUM,
        approval_pool=ApprovalPool.CAB,
        approvals_required=2,
        windows=(WindowClass.OFF_HOURS, WindowClass.PLANNED_MAINTENANCE),
        freeze_override=False,
        post_implementation_review=False,
    ),
    ChangeType.EMERGENCY: TypePolicy(
        type=ChangeType.EMERGENCY,
        baseline_risk=Risk.HIGH,
        approval_pool=ApprovalPool.EMERGENCY,
        approvals_required=1,
        windows=(WindowClass.ANY_TIME,),
        freeze_override=True,
        post_implementation_review=True,
    ),
}


def policy_for(change_type: ChangeType) -> TypePolicy:
    return POLICIES[change_type]
