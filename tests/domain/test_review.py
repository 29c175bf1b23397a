"""An emergency's post-implementation review is a signed decision by an emergency approver who is not the
requester (#23): judged on the record, the governance's emergency list and the bundle's keys. Signatures
here are a stand-in (the key's name and the message's digest); the real Ed25519 check is passed in the same way."""

import hashlib
from datetime import datetime, timezone

import pytest

from changeflow.domain.identity import PLAN_DIGEST, review_message, summary_digest
from changeflow.domain.record import ChangeRecord, ReviewAttempt, State
from changeflow.domain.request import Risk
from changeflow.domain.review import judge_review, kept_review_problem
from changeflow.settings.loader import load_change_request
from tests.conftest import EXAMPLES

AT = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)
DIGEST = "d" * 64
EMERGENCY = ["oscar", "carol"]
KEYS = {"oscar": "key-oscar", "carol": "key-carol", "erin": "key-erin", "mallory": "key-mallory"}
SUMMARY = "Queue delay capped; p99 back under budget. Follow-up: alert on queue time."


def fake_sign(key: str, message: bytes) -> str:
    return f"{key}|{hashlib.sha256(message).hexdigest()}"


def fake_valid(key: str, message: bytes, signature: str) -> bool:
    return signature == fake_sign(key, message)


def pending(state: State = State.REVIEW_PENDING) -> ChangeRecord:
    request = load_change_request(EXAMPLES / "changes" / "emergency-hotfix.yaml")  # requested by erin
    record = ChangeRecord.open(request, Risk.HIGH, AT).model_copy(update={"attachments": {PLAN_DIGEST: DIGEST}})
    for to in (State.ASSESSED, State.APPROVED, State.SCHEDULED, State.EXECUTING, State.VERIFYING, State.REVIEW_PENDING):
        if record.state is not state:
            record.transition(to, AT)
    return record


def signed(
    who: str, summary: str = SUMMARY, key_of: str | None = None, digest: str = DIGEST, change_id: str = "CHG-0005"
) -> str:
    return fake_sign(KEYS[key_of or who], review_message(change_id, who, summary, digest))


def judge(record: ChangeRecord, who: str, signature: str, summary: str = SUMMARY):
    return judge_review(
        record, who, summary, signature, emergency_approvers=EMERGENCY, approver_keys=KEYS, signature_valid=fake_valid
    )


def test_a_review_signed_by_an_emergency_approver_who_did_not_request_the_change_counts():
    verdict = judge(pending(), "oscar", signed("oscar"))
    assert (
        verdict.accepted
        and verdict.public_key == "key-oscar"
        and verdict.reason == "post-implementation review by oscar, signed with their key"
    )
    assert judge(pending(), "OSCAR", signed("oscar")).accepted  # names are one person however spelled


def test_the_requester_cannot_review_her_own_emergency_even_with_her_own_valid_signature():
    verdict = judge_review(
        pending(),
        "erin",
        SUMMARY,
        signed("erin"),
        emergency_approvers=[*EMERGENCY, "erin"],
        approver_keys=KEYS,
        signature_valid=fake_valid,
    )
    assert not verdict.accepted and verdict.reason.startswith("erin requested this change and cannot review it")


def test_someone_not_on_the_emergency_approvers_list_cannot_review():
    verdict = judge(pending(), "mallory", signed("mallory"))
    assert not verdict.accepted and verdict.reason == "mallory is not on the emergency approvers list (oscar, carol)"


@pytest.mark.parametrize(
    "signature, why",
    [
        (signed("oscar", key_of="carol"), "another approver's key"),
        (signed("oscar", summary="Something else entirely happened."), "signed over another summary"),
        (signed("oscar", digest="e" * 64), "signed on another plan"),
        (signed("oscar", change_id="CHG-0006"), "signed for another change"),
        ("not a signature", "garbage"),
    ],
    ids=["other-key", "other-summary", "other-plan", "other-change", "garbage"],
)
def test_a_signature_that_is_not_the_reviewers_over_this_review_is_refused(signature, why):
    verdict = judge(pending(), "oscar", signature)
    assert (
        not verdict.accepted
        and verdict.reason == "the signature is not oscar's over this change, reviewer, summary and plan"
    ), why


def test_no_signature_or_no_key_in_the_bundle_is_refused():
    assert judge(pending(), "oscar", "  ").reason.startswith("no signature:")
    keyless = judge_review(
        pending(),
        "oscar",
        SUMMARY,
        signed("oscar"),
        emergency_approvers=EMERGENCY,
        approver_keys={},
        signature_valid=fake_valid,
    )
    assert not keyless.accepted and keyless.reason == "oscar has no public key in the governance bundle"


@pytest.mark.parametrize("state", [State.VERIFYING, State.SCHEDULED])
def test_a_change_that_owes_no_review_is_refused(state):
    verdict = judge(pending(state), "oscar", signed("oscar"))
    assert not verdict.accepted and verdict.reason == f"CHG-0005 is '{state}', not 'review_pending': no review is owed"


def test_a_closed_change_takes_no_second_review():
    record = pending()
    record.transition(State.CLOSED, AT)
    assert (
        judge(record, "oscar", signed("oscar")).reason
        == "CHG-0005 is 'closed', not 'review_pending': no review is owed"
    )


def test_a_summary_that_says_nothing_is_refused():
    verdict = judge(pending(), "oscar", signed("oscar", summary="ok"), summary="ok")
    assert not verdict.accepted and verdict.reason.startswith("the summary has 2 characters")


def closed_with(review: ReviewAttempt | None) -> ChangeRecord:
    record = pending()
    if review is not None:
        record.reviews.append(review)
    record.transition(State.CLOSED, AT)
    return record


def kept(who: str = "oscar", summary: str = SUMMARY, key_of: str | None = None) -> ReviewAttempt:
    return ReviewAttempt(
        reviewer=who,
        at=AT,
        summary=summary,
        counted=True,
        summary_sha256=summary_digest(summary),
        plan_digest=DIGEST,
        signature=signed(who, summary, key_of),
    )


def problem(record: ChangeRecord) -> str | None:
    return kept_review_problem(record, emergency_approvers=EMERGENCY, approver_keys=KEYS, signature_valid=fake_valid)


def test_a_closed_emergencys_kept_review_is_verified_again():
    assert problem(closed_with(kept())) is None
    assert problem(pending()) is None  # still owed: nothing to verify yet
    assert problem(closed_with(None)) == "CHG-0005 was closed without a signed post-implementation review"
    assert (
        problem(closed_with(kept(key_of="carol")))
        == "CHG-0005's review: the signature is not oscar's over this change, reviewer, summary and plan"
    )
    rewritten = kept().model_copy(update={"summary": "Nothing to see here, all fine."})
    assert problem(closed_with(rewritten)) == "CHG-0005's review summary is not the one its digest names (rewritten)"
    assert problem(closed_with(kept("erin"))).startswith("CHG-0005's review: erin requested this change")
