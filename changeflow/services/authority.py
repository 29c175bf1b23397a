"""Whether a record still carries the authority to execute, judged again by the executor that is about to
act on it (the governed flow after a wait, the maintenance-window flow): its approvals with their kept
proofs re-verified against the governance bundle's keys, or its catalog match; and the governance bundle
read again from its folder, which must be the one the change was judged under."""

from __future__ import annotations

from changeflow.domain.authority import approvals_hold
from changeflow.domain.bundle import bundle_of
from changeflow.domain.catalog import match_standard
from changeflow.domain.identity import GOVERNANCE_BUNDLE, plan_digest
from changeflow.domain.policy import ApprovalPool, ChangePlan, policy_for
from changeflow.domain.record import ChangeRecord
from changeflow.exceptions import InvalidSettings
from changeflow.kinds import kind_of
from changeflow.services.approvals import proof_verifier
from changeflow.services.verification import DIGEST
from changeflow.settings.bundle import reread
from changeflow.settings.governance import Governance


def governance_refusal(record: ChangeRecord, governance: Governance) -> str | None:
    """Why the governance in force now is not the one the change was judged under, or None. The bundle is
    read again from its folder: an edit since approval, or a seal that no longer verifies, refuses."""
    approved_under = record.attachments.get(GOVERNANCE_BUNDLE)
    if approved_under is None:
        return "the record names no governance bundle it was judged under"
    try:
        now_under = bundle_of(reread(governance.bundle))
    except InvalidSettings as exc:
        return f"the governance bundle no longer verifies ({exc})"
    if now_under != approved_under:
        return f"the governance bundle changed since the change was judged ({approved_under[:16]}… → {now_under[:16]}…): submit it again under the current bundle"
    return None


def authority_refusal(record: ChangeRecord, governance: Governance, plan: ChangePlan) -> str | None:
    """Why the record may not execute (its approvals or catalog match do not hold when judged again, or
    the governance bundle is not the one it was judged under), or None."""
    request = record.request
    if policy_for(request.type).approval_pool is ApprovalPool.PRE_APPROVED:
        match = match_standard(request, governance.catalog, kind_of(request).catalog_fields(request.change))
        if match.template is None:
            return f"not in the standard catalog: {match.reason}"
    else:
        verifier = proof_verifier(governance)
        held = approvals_hold(
            record,
            policy_for(request.type),
            governance.approvers,
            plan.approvals_required,
            plan_digest(request, plan, record.attachments.get(DIGEST), record.attachments.get(GOVERNANCE_BUNDLE)),
            governance.require_proof,
            lambda approval: verifier.problem(record.id, approval),
        )
        if not held.accepted:
            return held.reason
    return governance_refusal(record, governance)
