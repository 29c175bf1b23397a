"""The bake against the old version on real Tritons: a version that is only slower is rolled back, and a
doubtful bake of a normal change waits for a person whose decision is obeyed and recorded. The
deployments run directly (how a normal change is approved first: tests/governed); the decision on a
doubtful bake is given through the paused run, as `changeflow approve` gives it."""

import pytest
from changeflow.flows.model_deployment import model_deployment

from changeflow import State
from changeflow.adapters.prefect_approvals import DecisionsInBackground
from changeflow.bootstrap import record_store
from changeflow.domain.comparison import ComparisonThresholds
from tests.flows.helpers import change, signer
from tests.flows.test_model_deployment import on_v2, serving

pytestmark = pytest.mark.triton


def request(name, change_id, **fields):
    base = change(name, id=change_id)
    return base.model_copy(update={"change": base.change.model_copy(update=fields)})


@pytest.fixture
def governance():
    from changeflow.settings.loader import load_governance
    from tests.conftest import EXAMPLES

    return load_governance(EXAMPLES, approval_timeout_s=60, approval_poll_s=1)


def test_a_version_that_is_only_slower_is_rolled_back_against_the_old_one(environment, production):
    """classifier v5 answers exactly like v2, 2 ms slower: no threshold sees it, the comparison does."""
    on_v2(production)
    result = model_deployment(request("normal-deploy-v4.yaml", "CHG-0105", to_version=5, bake_seconds=30), environment)
    assert result.state is State.ROLLED_BACK, result.outcome
    assert serving(production) == ([2], 2)  # queried from Triton
    monitor = record_store(environment.records).load("CHG-0105").verification_steps[-1]
    assert monitor.name == "monitor" and monitor.outcome == "failed"
    assert "v5 slower than v2: p50 " in monitor.detail and "U-test p=" in monitor.detail, monitor.detail


def test_an_equal_version_closes_and_its_record_shows_what_was_compared(environment, production):
    result = model_deployment(request("normal-deploy-v2.yaml", "CHG-0106", bake_seconds=3), environment)
    assert result.state is State.CLOSED, result.outcome
    assert "against the old version: latency: p50" in result.outcome and "outputs differ from v1 on" in result.outcome


def doubtful(governance, **updates):
    """Governance whose comparison can never collect enough samples: every bake is INCONCLUSIVE."""
    verification = governance.verification.model_copy(
        update={"comparison": ComparisonThresholds(min_samples=1_000_000), **updates}
    )
    return governance.model_copy(update={"verification": verification})


def normal_v2(change_id):
    return change("normal-deploy-v2.yaml", id=change_id, change={"bake_seconds": 2})


def deploy_with_bake_decisions(request, environment, governance, decisions):
    """Run the deployment while approvers answer its doubtful bake's pause (the Prefect UI's resume path),
    each decision signed with the approver's enrolled key; (result, record)."""
    proof = signer(record_store(environment.records), request.id)
    with DecisionsInBackground(
        request.id, [(who, approve, f"{who} via test") for who, approve in decisions], wait_s=60, proof=proof
    ) as approvers:
        result = model_deployment(request, environment, governance=governance)
    assert approvers.error is None, approvers.error
    return result, record_store(environment.records).load(request.id)


def test_an_inconclusive_bake_of_a_normal_change_waits_and_a_roll_back_decision_is_obeyed(
    environment, production, governance
):
    decisions = [("mallory", False), ("frank", False)]  # mallory is not on the CAB: refused
    result, record = deploy_with_bake_decisions(normal_v2("CHG-0107"), environment, doubtful(governance), decisions)
    assert result.state is State.ROLLED_BACK, result.outcome
    assert serving(production) == ([1], 1)
    assert [(d.approver, d.decision, d.counted) for d in record.bake_decisions] == [
        ("mallory", "reject", False),
        ("frank", "reject", True),
    ]
    assert (
        record.bake_decisions[-1].proof == "ed25519"
        and record.bake_decisions[-1].plan_digest == record.attachments["doubt_digest"]
    )
    assert "roll back decided by frank (frank via test)" in record.transitions[-1].reason


def test_promote_anyway_keeps_the_new_version_and_says_who_decided(environment, production, governance):
    result, record = deploy_with_bake_decisions(
        normal_v2("CHG-0108"), environment, doubtful(governance), [("frank", True)]
    )
    assert result.state is State.CLOSED, result.outcome
    assert serving(production) == ([2], 2)
    assert "promoted anyway by frank (frank via test) despite bake INCONCLUSIVE" in result.outcome
    assert [(d.approver, d.decision, d.counted) for d in record.bake_decisions] == [("frank", "approve", True)]


def test_no_decision_in_time_rolls_back(environment, production, governance):
    quick = doubtful(governance, decision_timeout_s=2, decision_poll_s=1)
    result, record = deploy_with_bake_decisions(normal_v2("CHG-0109"), environment, quick, [])  # nobody answers
    assert result.state is State.ROLLED_BACK and serving(production) == ([1], 1)
    assert "no decision within 2s" in record.transitions[-1].reason and record.bake_decisions == []
