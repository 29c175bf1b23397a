from pathlib import Path

import pytest

from changeflow import ChangeType, Risk
from changeflow.domain.policy import (
    Approvers,
    Decision,
    RiskInputs,
    WindowClass,
    assess_risk,
    judge,
    policy_for,
    quorum_reached,
)
from changeflow.settings.loader import load_change_request

CHANGES = Path(__file__).resolve().parents[2] / "examples" / "changes"
APPROVERS = Approvers(change_advisory_board=["carol", "dave", "frank"], emergency_approvers=["oscar"])
NORMAL = policy_for(ChangeType.NORMAL)


def decide(who, approve=True, already=(), policy=NORMAL, requester="alice"):
    return judge(
        Decision(approve=approve, approver=who),
        requester=requester,
        policy=policy,
        approvers=APPROVERS,
        already=list(already),
    )


def test_self_approval_is_refused():
    verdict = decide("alice", requester="alice")
    assert not verdict.accepted and verdict.reason == "alice requested this change and cannot approve it"


def test_only_allowlisted_approvers_count():
    assert not decide("mallory").accepted and "not on the change advisory board list" in decide("mallory").reason
    assert not decide(
        "carol", policy=policy_for(ChangeType.EMERGENCY)
    ).accepted  # CAB member, not an emergency approver
    assert decide("oscar", policy=policy_for(ChangeType.EMERGENCY)).accepted


def test_each_approver_counts_once_and_the_quorum_is_counted():
    assert decide("carol").accepted
    assert not decide("carol", already=["carol"]).accepted
    assert not quorum_reached(["carol"], 2) and quorum_reached(["carol", "dave"], 2)


def test_a_rejection_counts_only_from_an_entitled_approver():
    assert decide("dave", approve=False).accepted
    assert not decide("mallory", approve=False).accepted


def test_risk_rises_with_traffic_failures_and_size_with_reasons():
    request = load_change_request(CHANGES / "normal-deploy-v2.yaml")
    quiet = assess_risk(request, RiskInputs(requests_per_s=1))
    assert (
        quiet.risk is Risk.MEDIUM and quiet.score == 2 and "raised to the normal baseline medium" in quiet.reasons[-1]
    )
    busy = assess_risk(
        request, RiskInputs(requests_per_s=2500, recent_failed_changes=3, window=WindowClass.BUSINESS_HOURS)
    )
    assert busy.risk is Risk.HIGH and busy.score == 2 + 2 + 2 + 1
    assert "live traffic 2500 req/s >= 1000: +2" in busy.reasons
    assert "3 recent failed change(s) to classifier: +2" in busy.reasons
    assert policy_for(ChangeType.NORMAL).approvals_for(busy.risk) == 3  # the score raised the quorum


@pytest.mark.parametrize("name, risk", [("standard-config-tweak.yaml", Risk.LOW), ("emergency-hotfix.yaml", Risk.HIGH)])
def test_type_baselines(name, risk):
    assert assess_risk(load_change_request(CHANGES / name), RiskInputs()).risk is risk
