"""The governed change flows end to end: approvals as paused-flow inputs, catalog, windows, checklist, locks."""

import threading
from datetime import datetime, timedelta, timezone

import pytest

from tests.flows.helpers import signer
from changeflow.bootstrap import config_store, record_store
from changeflow.adapters.prefect_approvals import DecisionsInBackground
from changeflow.domain.request import ChangeRequest
from changeflow import State
from changeflow.settings.loader import load_change_request, load_governance
from changeflow.flows.lifecycle import emergency_change, normal_change, standard_change
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.triton
BERLIN = timezone(timedelta(hours=1))
WEDNESDAY_NIGHT = datetime(2026, 11, 25, 22, 0, tzinfo=BERLIN)  # off-hours
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)  # business hours
IN_THE_FREEZE = datetime(2026, 12, 20, 10, 0, tzinfo=BERLIN)


@pytest.fixture
def governance():
    return load_governance(EXAMPLES, approval_timeout_s=60, approval_poll_s=1)


def change(name, **updates):
    """An example request with fields replaced, validated again (as a user's edit would be)."""
    data = load_change_request(EXAMPLES / "changes" / name).model_dump(mode="json")
    data["change"].update(updates.pop("change", {}))
    return ChangeRequest.model_validate({**data, **updates})


def run_with_approvals(flow, request, environment, governance, decisions, now):
    """Run a governed flow while approvers answer its pauses through the Prefect UI's resume path."""
    proof = signer(record_store(environment.records), request.id)
    with DecisionsInBackground(request.id, [(who, approve, f"{who} via test") for who, approve in decisions], wait_s=60, proof=proof) as approvers:
        result = flow(request, environment, governance, now)
    assert approvers.error is None, approvers.error
    return result, record_store(environment.records).load(request.id)


def test_approval_rules_then_quorum_then_execution(environment, governance):
    request = change("normal-self-approval.yaml")
    decisions = [("alice", True), ("mallory", True), ("carol", True), ("carol", True), ("dave", True)]
    result, record = run_with_approvals(normal_change, request, environment, governance, decisions, WEDNESDAY_NIGHT)
    assert result.state is State.CLOSED, result.outcome
    refusals = [a.refusal for a in record.approvals if not a.counted]
    assert refusals == [
        "alice requested this change and cannot approve it",
        "mallory is not on the change advisory board list (carol, dave, frank)",
        "carol has already approved; each approver counts once",
    ]
    assert [a.approver for a in record.approvals if a.counted] == ["carol", "dave"]
    states = [t.to_state for t in record.transitions]
    assert states == [State.REQUESTED, State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING, State.VERIFYING, State.CLOSED]
    assert "approved by carol, dave (2 required)" in record.transitions[2].reason
    assert "off-hours" in record.transitions[3].reason


def test_rejection_touches_nothing(environment, governance):
    before = config_store(environment.production).read_config_text("classifier")
    result, record = run_with_approvals(
        normal_change, change("normal-self-approval.yaml"), environment, governance, [("frank", False)], WEDNESDAY_NIGHT
    )
    assert result.state is State.REJECTED and "rejected by frank" in result.outcome
    assert record.execution_steps == [] and not record.production_touched
    assert config_store(environment.production).read_config_text("classifier") == before


def test_no_decision_in_time_expires_after_an_overdue_notice(environment, governance):
    from tests.flows.test_records_and_events import read_change_events

    quick = governance.model_copy(update={"approval_timeout_s": 3, "approval_overdue_s": 1})
    result = normal_change(change("normal-self-approval.yaml", id="CHG-0031"), environment, quick, WEDNESDAY_NIGHT)
    assert result.state is State.EXPIRED and "no valid decision within 3s" in result.outcome
    assert read_change_events("CHG-0031", 1, prefix="changeflow.approval.") == ["changeflow.approval.overdue"]


def test_standard_change_outside_the_catalog_is_refused(environment, governance):
    request = change("standard-config-tweak.yaml", change={"set": {"instance_group.0.count": 8}})
    result = standard_change(request, environment, governance, WEDNESDAY_MORNING)
    assert result.state is State.REJECTED
    assert "template 'instance-count': instance_group.0.count=8 must be <= 4" in result.outcome
    assert "file it as a normal change" in result.outcome


def test_standard_change_in_the_catalog_runs_without_approval(environment, governance):
    result = standard_change(change("standard-config-tweak.yaml"), environment, governance, WEDNESDAY_MORNING)
    assert result.state is State.CLOSED, result.outcome
    record = record_store(environment.records).load("CHG-0001")
    assert record.approvals == [] and "pre-approved: matches standard template 'batching-delay'" in record.transitions[2].reason


def test_freeze_blocks_a_normal_change_but_not_an_emergency(environment, governance):
    deadline = IN_THE_FREEZE + timedelta(days=3)
    normal = change("normal-self-approval.yaml", window={"deadline": deadline.isoformat()})
    result, _ = run_with_approvals(normal_change, normal, environment, governance, [("carol", True), ("dave", True)], IN_THE_FREEZE)
    assert result.state is State.EXPIRED
    assert "freeze 'year-end' (year-end peak traffic)" in result.outcome
    result, record = run_with_approvals(emergency_change, change("emergency-hotfix.yaml"), environment, governance, [("oscar", True)], IN_THE_FREEZE)
    assert result.state is State.REVIEW_PENDING, result.outcome
    scheduled = next(t for t in record.transitions if t.to_state is State.SCHEDULED)
    assert "emergency change overrides freeze 'year-end'" in scheduled.reason


def test_a_failed_checklist_item_blocks_execution(environment, governance):
    request = change("standard-config-tweak.yaml", communication={"announced_in": "#inference-changes"})  # no on-call ack
    before = config_store(environment.production).read_config_text("feature_scaler")
    result = standard_change(request, environment, governance, WEDNESDAY_MORNING)
    assert result.state is State.ABORTED
    assert "on-call notified: no acknowledgement" in result.outcome
    assert config_store(environment.production).read_config_text("feature_scaler") == before


def test_two_changes_to_one_model_never_execute_at_once(environment, governance):
    first = change("standard-config-tweak.yaml", id="CHG-0011")
    second = change("standard-config-tweak.yaml", id="CHG-0012", change={"set": {"dynamic_batching.max_queue_delay_microseconds": 700}})
    results = {}
    threads = [threading.Thread(target=lambda r=r: results.setdefault(r.id, standard_change(r, environment, governance, WEDNESDAY_MORNING))) for r in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert {r.state for r in results.values()} == {State.CLOSED}
    store = record_store(environment.records)
    spans = []
    for change_id in ("CHG-0011", "CHG-0012"):
        record = store.load(change_id)
        steps = record.execution_steps + record.verification_steps
        spans.append((min(s.started_at for s in steps), max(s.ended_at for s in steps)))
    (a_start, a_end), (b_start, b_end) = sorted(spans)
    assert a_end <= b_start, f"executions overlapped: {spans}"
