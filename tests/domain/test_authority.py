"""Before executing, the record's approvals are judged again: a record that reached 'scheduled' without
the approval gate (written by hand with the store's API) does not carry the authority to run."""

from datetime import datetime, timezone

from changeflow.domain.authority import approvals_hold
from changeflow.domain.identity import PLAN_DIGEST
from changeflow.domain.policy import Approvers, policy_for
from changeflow.domain.record import Approval, ChangeRecord
from changeflow.domain.request import ChangeType, Risk
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES

AT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)
CAB = Approvers(change_advisory_board=["carol", "dave", "frank"])
DIGEST = "d" * 64


def record(*approvals: Approval, digest: str | None = DIGEST) -> ChangeRecord:
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    opened = ChangeRecord.open(request, Risk.MEDIUM, AT)
    return opened.model_copy(
        update={"approvals": list(approvals), "attachments": {PLAN_DIGEST: digest} if digest else {}}
    )


def approval(
    who: str, proof: str = "ed25519", digest: str = DIGEST, counted: bool = True, decision: str = "approve"
) -> Approval:
    return Approval(approver=who, decision=decision, at=AT, counted=counted, proof=proof, plan_digest=digest)


def labels_only(approval: Approval) -> str | None:
    """A stand-in verifier for the policy half (the real one, services.approvals, re-verifies signatures)."""
    return (
        None
        if approval.proof in ("totp", "ed25519")
        else f"{approval.approver}'s approval carries no proof of identity"
    )


def hold(rec: ChangeRecord, required: int = 2, digest_now: str = DIGEST, require_proof: bool = True):
    return approvals_hold(rec, policy_for(ChangeType.NORMAL), CAB, required, digest_now, require_proof, labels_only)


def test_two_proven_approvals_on_this_plan_hold():
    assert hold(record(approval("carol"), approval("dave", proof="totp"))).accepted


def test_a_forged_scheduled_record_without_approvals_does_not():
    judged = hold(record())
    assert not judged.accepted and judged.reason == "0 valid approval(s) of 2 required on the record"
    unsigned = hold(record(digest=None))
    assert not unsigned.accepted and unsigned.reason.startswith(
        "0 valid approval(s) of 2 required on the record: the plan digest on the record (none…)"
    )


def test_approvals_are_judged_again_one_by_one():
    forged = record(
        approval("alice"),  # the requester
        approval("mallory"),  # not on the CAB
        approval("carol", proof=""),  # no proof of identity
        approval("dave", digest="e" * 64),  # given on another plan
        approval("frank", counted=False),  # refused at the gate
        approval("CAROL"),  # carol again, once proven
        approval("carol"),
    )
    judged = hold(forged)
    assert not judged.accepted
    assert judged.reason.startswith("1 valid approval(s) of 2 required on the record: alice requested this change")
    assert (
        "mallory is not on the change advisory board list" in judged.reason
        and "carol's approval carries no proof" in judged.reason
    )


def test_a_plan_digest_that_is_not_the_digest_of_the_record_s_request_and_plan_is_refused():
    judged = hold(record(approval("carol"), approval("dave")), digest_now="f" * 64)
    assert not judged.accepted and "is not the digest of its request and plan" in judged.reason


def test_without_required_proofs_names_and_digests_still_count():
    assert hold(record(approval("carol", proof=""), approval("dave", proof="")), require_proof=False).accepted
    assert hold(record(approval("carol", decision="reject"), approval("dave"))).accepted is False
