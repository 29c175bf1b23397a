"""An emergency change's post-implementation review: a signed decision by an emergency approver who is
not the requester, judged by the executor before it closes the record (issue #23).

- ``judge_review``: whether a review sent for a record counts. The record must be ``review_pending``; the
  reviewer must be on the governance's emergency approver list and not the requester; the summary must say
  something (10 to 4,000 characters); and the signature must verify with the reviewer's public key from the
  governance bundle over ``identity.review_message`` (change, reviewer, the summary's SHA-256, and the plan
  digest on the record, the one the approvals signed).
- ``ReviewAttempt`` (defined with the record, ``domain.record``): what the record keeps of each review
  sent, the counted one with its proof (reviewer, signature, key ID, the digests it names), refused ones
  with why.
- ``kept_review_problem``: the same rules applied again to a closed record's kept review, so an auditor can
  report an emergency closed without a review that verifies.

Pure: how a signature is checked (``signature_valid(public_key, message, signature)``) is passed in.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from changeflow.domain.identity import PLAN_DIGEST, person, review_message, summary_digest
from changeflow.domain.record import ChangeRecord, State

SUMMARY_MIN, SUMMARY_MAX = 10, 4_000
SignatureCheck = Callable[[str, bytes, str], bool]


class ReviewVerdict(BaseModel, frozen=True):
    accepted: bool
    reason: str
    public_key: str = ""  # accepted: the reviewer's key that verified the signature


def _refused(reason: str) -> ReviewVerdict:
    return ReviewVerdict(accepted=False, reason=reason)


def _who_may_review(record: ChangeRecord, who: str, emergency_approvers: list[str]) -> str | None:
    if not who:
        return "no reviewer named"
    if who == person(record.requester):
        return f"{who} requested this change and cannot review it: the review is an emergency approver's who is not the requester"
    allowed = [person(name) for name in emergency_approvers]
    if who not in allowed:
        return f"{who} is not on the emergency approvers list ({', '.join(allowed) or 'empty'})"
    return None


def _signature_problem(
    record: ChangeRecord,
    who: str,
    summary: str,
    signature: str,
    digest: str,
    approver_keys: dict[str, str],
    signature_valid: SignatureCheck,
) -> tuple[str | None, str]:
    """(why the signature does not hold or None, the key it verified with)."""
    key = {person(name): public for name, public in approver_keys.items()}.get(who)
    if key is None:
        return f"{who} has no public key in the governance bundle", ""
    if not signature.strip():
        return "no signature: `changeflow review` signs the review with the reviewer's private key", ""
    if not signature_valid(key, review_message(record.id, who, summary, digest), signature.strip()):
        return f"the signature is not {who}'s over this change, reviewer, summary and plan", ""
    return None, key


def judge_review(
    record: ChangeRecord,
    reviewer: str,
    summary: str,
    signature: str,
    *,
    emergency_approvers: list[str],
    approver_keys: dict[str, str],
    signature_valid: SignatureCheck,
) -> ReviewVerdict:
    """Whether this review closes ``record``; the reason names the first rule it breaks."""
    who = person(reviewer)
    if record.state is not State.REVIEW_PENDING:
        return _refused(f"{record.id} is '{record.state}', not 'review_pending': no review is owed")
    if (problem := _who_may_review(record, who, emergency_approvers)) is not None:
        return _refused(problem)
    text = summary.strip()
    if not SUMMARY_MIN <= len(text) <= SUMMARY_MAX:
        return _refused(
            f"the summary has {len(text)} characters: write what happened and what follows ({SUMMARY_MIN} to {SUMMARY_MAX:,})"
        )
    problem, key = _signature_problem(
        record, who, text, signature, record.attachments.get(PLAN_DIGEST, ""), approver_keys, signature_valid
    )
    if problem is not None:
        return _refused(problem)
    return ReviewVerdict(
        accepted=True, reason=f"post-implementation review by {who}, signed with their key", public_key=key
    )


def owes_review(record: ChangeRecord) -> bool:
    """A record that went through ``review_pending``: its closing must be a counted, signed review."""
    return any(t.to_state == "review_pending" for t in record.transitions)


def kept_review_problem(
    record: ChangeRecord,
    *,
    emergency_approvers: list[str],
    approver_keys: dict[str, str],
    signature_valid: SignatureCheck,
) -> str | None:
    """Why a record that owed a review and is closed does not carry one that verifies now (None: it does,
    or it owes none, or it is still pending). The kept summary, plan digest and signature are checked
    against the record's own plan digest and the bundle's keys; a label counts for nothing."""
    if not owes_review(record) or record.state != "closed":
        return None
    counted = [r for r in record.reviews if r.counted]
    if not counted:
        return f"{record.id} was closed without a signed post-implementation review"
    review = counted[-1]
    who = person(review.reviewer)
    if (problem := _who_may_review(record, who, emergency_approvers)) is not None:
        return f"{record.id}'s review: {problem}"
    if review.plan_digest != record.attachments.get(PLAN_DIGEST, ""):
        return f"{record.id}'s review names another plan digest than the record's"
    if review.summary_sha256 != summary_digest(review.summary):
        return f"{record.id}'s review summary is not the one its digest names (rewritten)"
    problem, _ = _signature_problem(
        record, who, review.summary, review.signature, review.plan_digest, approver_keys, signature_valid
    )
    return None if problem is None else f"{record.id}'s review: {problem}"
