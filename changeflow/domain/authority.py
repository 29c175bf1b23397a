"""Whether a record still carries the authority to execute, judged again by the executor itself.

An executor (the governed flow after a wait, the maintenance-window flow, the safety net) acts on what
the record says. A record that reached ``scheduled`` some other way than through the approval gate, say
written by hand with the store's own API, must not drive production. So before executing, the counted
approvals on the record are judged again, as the gate would have: each by someone entitled (not the
requester, on the type's list, once), with its kept proof of identity re-verified when proofs are required, each given on
the plan digest recomputed now from the record's own request and plan; and enough of them for the
record's risk. Pure: the digest is computed by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

from changeflow.domain.identity import PLAN_DIGEST, person
from changeflow.domain.policy import ApprovalPool, Approvers, Decision, Judgement, TypePolicy, judge
from changeflow.domain.record import Approval, ChangeRecord


def approvals_hold(
    record: ChangeRecord,
    policy: TypePolicy,
    approvers: Approvers,
    required: int,
    digest_now: str,
    require_proof: bool,
    proof_problem: Callable[[Approval], str | None],
) -> Judgement:
    """Accepted when the record's counted approvals, judged again, reach ``required`` on ``digest_now``.
    ``proof_problem(approval)``: why its kept proof does not verify against the governance keys (None:
    it does); a label saying "ed25519" or "totp" is not a proof."""
    if policy.approval_pool is ApprovalPool.PRE_APPROVED:
        return Judgement(accepted=True, reason="pre-approved type: the catalog is checked again instead")
    valid: list[str] = []
    problems: list[str] = []
    if record.attachments.get(PLAN_DIGEST) != digest_now:
        shown = (record.attachments.get(PLAN_DIGEST) or "none")[:16]
        problems.append(
            f"the plan digest on the record ({shown}…) is not the digest of its request and plan ({digest_now[:16]}…)"
        )
    for approval in (a for a in record.approvals if a.counted and a.decision == "approve"):
        judged = judge(
            Decision(approve=True, approver=approval.approver),
            requester=person(record.requester),
            policy=policy,
            approvers=approvers,
            already=valid,
        )
        if not judged.accepted:
            problems.append(judged.reason)
        elif require_proof and (problem := proof_problem(approval)) is not None:
            problems.append(problem)
        elif approval.plan_digest != digest_now:
            problems.append(f"{approval.approver}'s approval was given on another plan")
        else:
            valid.append(person(approval.approver))
    if len(valid) >= required and record.attachments.get(PLAN_DIGEST) == digest_now:
        return Judgement(
            accepted=True,
            reason=f"{len(valid)} valid approval(s) of {required} required, judged again before executing",
        )
    why = f": {'; '.join(problems[:3])}" if problems else ""
    return Judgement(accepted=False, reason=f"{len(valid)} valid approval(s) of {required} required on the record{why}")
