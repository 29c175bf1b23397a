"""The executor's side of a post-implementation review: the record read only when its versions verify,
the review judged with real Ed25519 keys, closed with its proof kept (re-verifiable), or the refused
attempt noted on the record with why, the record still owing its review."""

from datetime import datetime, timezone

import pytest

from changeflow.domain.identity import PLAN_DIGEST, review_message
from changeflow.domain.policy import Approvers
from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.request import Risk
from changeflow.exceptions import RecordTampered
from changeflow.services.audit import VersionSeals
from changeflow.services.recorder import Recorder
from changeflow.services.reviews import review_change, review_problem
from changeflow.settings.governance import Governance
from changeflow.settings.loader import load_change_request
from changeflow.signing import PrivateKey, generate_key, key_id
from tests.conftest import EXAMPLES
from tests.fakes import FakeRecordStore

AT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)
DIGEST = "d" * 64
SUMMARY = "Queue delay capped; p99 back under budget. Follow-up: alert on queue time."


@pytest.fixture()
def keys(tmp_path) -> dict[str, PrivateKey]:
    for who in ("oscar", "carol", "erin", "executor"):
        generate_key(tmp_path / f"{who}.pem")
    return {who: PrivateKey.load(tmp_path / f"{who}.pem") for who in ("oscar", "carol", "erin", "executor")}


@pytest.fixture()
def governance(keys) -> Governance:
    return Governance(
        approvers=Approvers(emergency_approvers=["oscar", "carol", "erin"]),
        approver_keys={who: keys[who].public for who in ("oscar", "carol", "erin")},
    )


@pytest.fixture()
def store(keys) -> FakeRecordStore:
    store = FakeRecordStore(signer=keys["executor"])
    request = load_change_request(EXAMPLES / "changes" / "emergency-hotfix.yaml")  # requested by erin
    record = ChangeRecord.open(request, Risk.HIGH, AT).model_copy(update={"attachments": {PLAN_DIGEST: DIGEST}})
    for to in (State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING, State.VERIFYING, State.REVIEW_PENDING):
        record.transition(to, AT)
    store.save(record)
    return store


@pytest.fixture()
def seals(keys) -> VersionSeals:
    return VersionSeals({"worker": keys["executor"].public})


def signature(key: PrivateKey, who: str, summary: str = SUMMARY) -> str:
    return key.sign(review_message("CHG-0005", who, summary, DIGEST))


def test_a_signed_review_closes_the_record_with_its_proof_kept(store, keys, governance, seals):
    result = review_change(store, "CHG-0005", "Oscar", SUMMARY, signature(keys["oscar"], "oscar"), governance, seals)
    assert result.accepted and result.state is State.CLOSED
    record = store.load("CHG-0005")
    assert record.state is State.CLOSED and record.review == f"oscar: {SUMMARY}"
    [kept] = record.reviews
    assert (
        kept.counted
        and kept.reviewer == "oscar"
        and kept.key_id == key_id(keys["oscar"].public)
        and kept.plan_digest == DIGEST
    )
    assert review_problem(record, governance) is None  # re-verifiable against the bundle's keys
    assert store.history("CHG-0005")[-1].signer == keys["executor"].key_id  # written by the executor


def test_refused_reviews_are_noted_and_the_record_still_owes_its_review(store, keys, governance, seals):
    by_requester = review_change(store, "CHG-0005", "erin", SUMMARY, signature(keys["erin"], "erin"), governance, seals)
    assert not by_requester.accepted and by_requester.reason.startswith(
        "erin requested this change and cannot review it"
    )
    other_key = review_change(store, "CHG-0005", "oscar", SUMMARY, signature(keys["carol"], "oscar"), governance, seals)
    assert (
        not other_key.accepted
        and other_key.reason == "the signature is not oscar's over this change, reviewer, summary and plan"
    )
    record = store.load("CHG-0005")
    assert record.state is State.REVIEW_PENDING and record.review == ""
    assert [
        (r.reviewer, r.counted, r.refusal == reason)
        for r, reason in zip(record.reviews, (by_requester.reason, other_key.reason))
    ] == [("erin", False, True), ("oscar", False, True)]


def test_a_closed_record_is_not_written_to_by_a_late_review(store, keys, governance, seals):
    review_change(store, "CHG-0005", "oscar", SUMMARY, signature(keys["oscar"], "oscar"), governance, seals)
    versions = len(store.history("CHG-0005"))
    late = review_change(store, "CHG-0005", "carol", SUMMARY, signature(keys["carol"], "carol"), governance, seals)
    assert not late.accepted and "not 'review_pending'" in late.reason and len(store.history("CHG-0005")) == versions


def test_a_record_whose_versions_do_not_verify_is_not_reviewed(store, keys, governance, seals):
    unsigned = FakeRecordStore()  # a writer without the executor key: its versions verify for no executor
    unsigned.save(store.load("CHG-0005"))
    with pytest.raises(RecordTampered):
        review_change(unsigned, "CHG-0005", "oscar", SUMMARY, signature(keys["oscar"], "oscar"), governance, seals)
    assert unsigned.load("CHG-0005").state is State.REVIEW_PENDING


def test_a_record_closed_without_a_signed_review_is_reported(store, governance):
    recorder = Recorder(store.load("CHG-0005"), store)  # closed by a writer holding the executor key, no review run
    recorder.note(review=f"oscar: {SUMMARY}")
    recorder.transition(State.CLOSED, "post-implementation review by oscar")
    record = recorder.record
    assert record.state is State.CLOSED
    assert review_problem(record, governance) == "CHG-0005 was closed without a signed post-implementation review"
