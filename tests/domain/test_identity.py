"""Identity rules: one person whatever the spelling, a digest that changes with the plan, the exact
bytes a signature covers."""

from changeflow.domain.identity import decision_message, person, plan_digest
from changeflow.domain.policy import ApprovalPool, Approvers, Decision, judge, policy_for
from changeflow.domain.request import ChangeType
from changeflow.kinds import plan_for
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES


def test_spellings_of_one_name_are_one_person():
    assert person("Carol") == person("CAROL") == person(" carol ") == person("Ｃａｒｏｌ") == "carol"
    assert person("cаrol") != "carol"  # a Cyrillic а is another name: not on any list


def test_the_same_person_twice_counts_once_and_a_lookalike_outsider_is_refused():
    approvers = Approvers(change_advisory_board=["carol", "dave"])
    policy = policy_for(ChangeType.NORMAL)
    assert policy.approval_pool is ApprovalPool.CAB
    twice = judge(
        Decision(approve=True, approver="CAROL"),
        requester="alice",
        policy=policy,
        approvers=approvers,
        already=["carol"],
    )
    assert not twice.accepted and "already approved" in twice.reason
    outsider = judge(
        Decision(approve=True, approver="cаrol"), requester="alice", policy=policy, approvers=approvers, already=[]
    )
    assert not outsider.accepted and "not on the change advisory board list" in outsider.reason
    requester = judge(
        Decision(approve=True, approver="Alice"),
        requester="alice",
        policy=policy,
        approvers=Approvers(change_advisory_board=["alice"]),
        already=[],
    )
    assert not requester.accepted and "cannot approve" in requester.reason


def test_the_digest_follows_the_request_and_plan_not_the_warnings():
    request = load_change_request(EXAMPLES / "changes" / "normal-deploy-v2.yaml")
    plan = plan_for(request)
    digest = plan_digest(request, plan, "g" * 64)
    assert digest == plan_digest(request, plan.model_copy(update={"warnings": ("CHG-9 overlaps",)}), "g" * 64)
    assert digest != plan_digest(request.model_copy(update={"description": request.description + "!"}), plan, "g" * 64)
    assert digest != plan_digest(request, plan, "h" * 64)  # another golden set is another plan
    under = plan_digest(request, plan, "g" * 64, "b" * 64)
    assert under not in (
        digest,
        plan_digest(request, plan, "g" * 64, "c" * 64),
    )  # another governance bundle is another approval


def test_a_signature_covers_change_decision_digest_and_person():
    base = decision_message("CHG-1", True, "d" * 64, "Carol")
    assert base == decision_message("CHG-1", True, "d" * 64, "carol")
    assert (
        len(
            {
                base,
                decision_message("CHG-2", True, "d" * 64, "carol"),
                decision_message("CHG-1", False, "d" * 64, "carol"),
                decision_message("CHG-1", True, "e" * 64, "carol"),
                decision_message("CHG-1", True, "d" * 64, "dave"),
            }
        )
        == 5
    )
