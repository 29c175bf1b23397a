from pathlib import Path

import pytest

from changeflow import ChangeType, Risk
from changeflow.domain.policy import ApprovalPool, WindowClass, policy_for
from changeflow.kinds import plan_for
from changeflow.settings.loader import load_change_request

CHANGES = Path(__file__).resolve().parents[2] / "examples" / "changes"


def plan_of(name):
    return plan_for(load_change_request(CHANGES / name))


def test_model_deployment_plan_stages_before_production_and_rolls_back_to_the_old_version():
    plan = plan_of("normal-deploy-v4.yaml")
    assert [s.name for s in plan.execution_steps] == ["check_serving_version", "stage", "validate", "promote"]
    assert [s.name for s in plan.verification_steps] == ["smoke_test", "monitor", "widen", "finalize"]
    assert "unless it is v2" in plan.execution_steps[0].action  # the version the request expects, checked first
    assert "specific [v2, v4]" in plan.execution_steps[3].action
    assert "specific [v2]" in plan.rollback_steps[0].action
    assert plan.approval_pool is ApprovalPool.CAB and plan.approvals_required == 2
    assert plan.windows == (WindowClass.OFF_HOURS, WindowClass.PLANNED_MAINTENANCE)


def test_standard_change_needs_no_run_time_approval():
    plan = plan_of("standard-config-tweak.yaml")
    assert plan.approvals_required == 0 and plan.approval_pool is ApprovalPool.PRE_APPROVED
    assert plan.windows == (WindowClass.BUSINESS_HOURS,)
    assert [s.name for s in plan.rollback_steps] == ["restore_config", "verify_restored"]  # as the flow records them


def test_emergency_change_has_one_approver_any_time_and_a_review():
    plan = plan_of("emergency-hotfix.yaml")
    assert plan.approvals_required == 1 and plan.approval_pool is ApprovalPool.EMERGENCY
    assert plan.windows == (WindowClass.ANY_TIME,) and plan.post_implementation_review
    assert policy_for(ChangeType.EMERGENCY).freeze_override


@pytest.mark.parametrize("risk, quorum", [(Risk.LOW, 2), (Risk.MEDIUM, 2), (Risk.HIGH, 3)])
def test_cab_quorum_rises_with_risk(risk, quorum):
    assert plan_for(load_change_request(CHANGES / "normal-deploy-v2.yaml"), risk).approvals_required == quorum


def test_kubernetes_plans_name_the_objects_they_touch():
    upgrade = plan_of("triton-upgrade.yaml")
    assert upgrade.touches == ("kubernetes: deployment/triton (namespace inference)",)
    assert upgrade.rollback_steps[0].name == "rollout_undo"
    assert [s.name for s in upgrade.execution_steps] == ["record_template", "patch_image", "wait_rollout"]
    blue_green = plan_of("blue-green.yaml")
    assert any("service/triton" in t for t in blue_green.touches)
    assert blue_green.rollback_steps[0].name == "switch_back"
    assert [s.name for s in blue_green.execution_steps] == [
        "deploy_green",
        "wait_rollout",
        "validate_green",
        "retire_green",
        "switch_service",
    ]
    assert (
        "deployment/triton-green" in blue_green.execution_steps[1].action
    )  # the Deployment waited for: in the action, not the name


def test_going_back_to_a_lower_version_has_no_warm_standby():
    from changeflow.kinds.model_deployment import promotion_versions, standby_possible

    assert promotion_versions(1, 2) == [1, 2] and standby_possible(1, 2)
    assert promotion_versions(2, 1) == [1] and not standby_possible(2, 1)
    request = load_change_request(CHANGES / "normal-deploy-v2.yaml")
    downgrade = request.model_copy(
        update={"change": request.change.model_copy(update={"from_version": 2, "to_version": 1})}
    )
    plan = plan_for(downgrade)
    assert "specific [v1]" in plan.execution_steps[3].action and "no warm standby" in plan.execution_steps[3].action
    assert "cold load" in plan.rollback_steps[0].action


def test_overlapping_windows_on_the_same_model_warn():
    from datetime import datetime, timezone

    from changeflow import State
    from changeflow.domain.record import ChangeRecord
    from changeflow.domain.windows import window_conflicts

    at = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    base = load_change_request(CHANGES / "normal-deploy-v2.yaml")
    window = {"not_before": "2026-11-25T21:00:00+00:00", "deadline": "2026-11-26T03:00:00+00:00"}
    mine = base.model_validate({**base.model_dump(mode="json"), "id": "CHG-0100", "window": window})
    other = ChangeRecord.open(base, Risk.MEDIUM, at)
    other.transition(State.ASSESSED, at)
    other.slot_start, other.slot_end = (
        datetime(2026, 11, 25, 22, tzinfo=timezone.utc),
        datetime(2026, 11, 25, 23, tzinfo=timezone.utc),
    )
    warnings = window_conflicts(mine, [other])
    assert len(warnings) == 1 and warnings[0].startswith(
        "CHG-0002 (assessed) also changes classifier in 2026-11-25 22:00"
    )
    assert plan_for(mine, warnings=tuple(warnings)).warnings == tuple(warnings)  # the plan (dry run, approval) says so
    other.slot_start, other.slot_end = (
        datetime(2026, 11, 26, 4, tzinfo=timezone.utc),
        datetime(2026, 11, 26, 5, tzinfo=timezone.utc),
    )
    assert window_conflicts(mine, [other]) == []  # after my deadline
    other.slot_start = None
    other.transition(State.REJECTED, at)
    assert window_conflicts(mine, [other]) == []  # finished changes do not collide
    assert (
        plan_for(mine, warnings=tuple(window_conflicts(mine, [other]))).warnings == ()
    )  # as the governed flow plans it
