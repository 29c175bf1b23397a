"""Approval rules, judged one decision at a time: who may approve, and when the quorum is reached.

Each refusal has a reason that goes on the record; the flow then waits for another decision.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from changeflow.domain.policy import ApprovalPool, TypePolicy


class Approvers(BaseModel):
    """Allowlists per approval pool (who sits on the CAB, who may approve emergencies)."""

    model_config = ConfigDict(extra="forbid")
    change_advisory_board: list[str] = Field(default_factory=list)
    emergency_approvers: list[str] = Field(default_factory=list)

    def pool(self, pool: ApprovalPool) -> list[str]:
        return {ApprovalPool.CAB: self.change_advisory_board, ApprovalPool.EMERGENCY: self.emergency_approvers}.get(pool, [])


class Decision(BaseModel, frozen=True):
    approve: bool
    approver: str
    comment: str = ""


class Judgement(BaseModel, frozen=True):
    accepted: bool
    reason: str


def judge(decision: Decision, *, requester: str, policy: TypePolicy, approvers: Approvers, already: list[str]) -> Judgement:
    """Whether one decision counts. A rejection counts only from someone entitled to approve."""
    who = decision.approver.strip().lower()
    allowed = approvers.pool(policy.approval_pool)
    if not who:
        return Judgement(accepted=False, reason="no approver named")
    if who == requester:
        return Judgement(accepted=False, reason=f"{who} requested this change and cannot approve it")
    if who not in allowed:
        return Judgement(accepted=False, reason=f"{who} is not on the {policy.approval_pool.value.replace('_', ' ')} list ({', '.join(allowed) or 'empty'})")
    if who in already:
        return Judgement(accepted=False, reason=f"{who} has already approved; each approver counts once")
    verb = "approves" if decision.approve else "rejects"
    return Judgement(accepted=True, reason=f"{who} {verb}" + (f": {decision.comment}" if decision.comment else ""))


def quorum_reached(approved_by: list[str], required: int) -> bool:
    return len(set(approved_by)) >= required
