"""The drift judge: what a check does for one target, and which record's snapshot is the approved one."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from changeflow.domain.drift import (
    APPROVED_STATE,
    Approved,
    DriftAction,
    DriftPolicy,
    OpenDrift,
    Snapshot,
    Step,
    Target,
    assess,
    compare,
    snapshots_text,
)
from changeflow.domain.drift_records import approved_states, open_drifts
from changeflow.domain.record import ChangeRecord, State, Unrequested

T0 = datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)
MODEL = Target(kind="triton_model", where="production", name="m", model="m")


def seen(versions: str = "[1]", config: str = "aaa", at: int = 0) -> Snapshot:
    return Snapshot(
        target=MODEL, facts={"ready_versions": versions, "config_sha256": config}, seen_at=T0 + timedelta(seconds=at)
    )


def test_first_sight_adopts_a_baseline():
    assert assess(seen(), None, None).step is Step.ADOPT_BASELINE


def test_as_approved_is_in_line_and_a_drift_names_each_fact():
    approved = Approved(snapshot=seen(), record_id="CHG-0001")
    assert assess(seen(at=5), approved, None).step is Step.IN_LINE
    verdict = assess(seen("[1, 3]", "bbb", at=9), approved, None, ["config x: 1 != 2"])
    assert verdict.step is Step.RECORD_DRIFT
    assert [(c.fact, c.approved, c.seen) for c in verdict.drift.changes] == [
        ("config_sha256", "aaa", "bbb"),
        ("ready_versions", "[1]", "[1, 3]"),
    ]
    assert verdict.drift.approved_by == "CHG-0001" and verdict.drift.details == ["config x: 1 != 2"]
    assert "ready_versions: [1] → [1, 3]" in verdict.reason


def test_one_record_per_drift_and_a_new_drift_is_new():
    approved = Approved(snapshot=seen(), record_id="CHG-0001")
    drift = assess(seen("[1, 3]", at=9), approved, None).drift
    on_record = OpenDrift(record_id="DRIFT-1", drift=drift)
    assert assess(seen("[1, 3]", at=20), approved, on_record).step is Step.ALREADY_RECORDED
    assert assess(seen("[1, 4]", at=30), approved, on_record).step is Step.RECORD_DRIFT
    assert assess(seen(at=40), approved, on_record).step is Step.BACK_IN_LINE


def test_compare_sees_facts_that_appear_or_vanish():
    a = Snapshot(target=MODEL, facts={"x.image": "1"}, seen_at=T0)
    b = Snapshot(target=MODEL, facts={"y.image": "1"}, seen_at=T0)
    assert [str(c) for c in compare(a, b)] == ["x.image: 1 → (none)", "y.image: (none) → 1"]


def record_with(change_id: str, *snapshots: Snapshot) -> ChangeRecord:
    record = ChangeRecord.baseline(change_id, "m", "triton_model", "test", T0)
    record.attachments[APPROVED_STATE] = snapshots_text(snapshots)
    return record


def test_the_latest_snapshot_on_any_record_is_the_approved_one():
    older, newer = record_with("CHG-0009", seen("[1]", at=0)), record_with("CHG-0002", seen("[2]", at=60))
    found = approved_states([newer, older])
    assert found[MODEL.key].record_id == "CHG-0002" and found[MODEL.key].snapshot.facts["ready_versions"] == "[2]"


def test_open_drifts_are_the_detected_ones():
    approved = Approved(snapshot=seen(), record_id="CHG-0001")
    drift = assess(seen("[1, 3]", at=9), approved, None).drift
    record = ChangeRecord.detected("DRIFT-1", drift, T0)
    assert record.state is State.DETECTED and record.type is Unrequested.UNAUTHORIZED and not record.governed
    assert open_drifts([record])[MODEL.key].record_id == "DRIFT-1"
    record.transition(State.CLOSED, T0, "back")
    assert open_drifts([record]) == {}


def test_policy_per_model_and_a_typo_is_refused():
    policy = DriftPolicy(models={"fraud": DriftAction.REVERT})
    assert policy.action_for("fraud") is DriftAction.REVERT and policy.action_for("other") is DriftAction.RECORD
    with pytest.raises(ValidationError):
        DriftPolicy.model_validate({"models": {"fraud": "undo"}})
    with pytest.raises(ValidationError):
        DriftPolicy.model_validate({"defualt": "revert"})
