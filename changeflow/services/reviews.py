"""Post-implementation review: closes an emergency change that is ``review_pending``. Executor side only:
the record is written by the process that holds the executor key (the ``post-implementation-review``
flow on a worker), never by the reviewer's own process.

- ``review_change``: what the review flow runs: the record read only when its versions verify, the review
  judged (``domain.review.judge_review``: an emergency approver who is not the requester, a summary, a
  signature by the reviewer's key in the governance bundle), then closed with its proof kept, or the
  refused attempt noted with why (only on a record that owes a review: nothing else is written to).
- ``review_problem``: a closed emergency's kept review judged again against the governance's keys.
"""

from __future__ import annotations

from pydantic import BaseModel

from changeflow.domain.identity import PLAN_DIGEST, person, summary_digest
from changeflow.domain.record import ChangeRecord, ReviewAttempt, State
from changeflow.domain.review import SUMMARY_MAX, judge_review, kept_review_problem
from changeflow.ports import RecordStore
from changeflow.services.audit import trusted
from changeflow.services.recorder import Recorder, utc_now
from changeflow.signing import key_id, verify


class ReviewResult(BaseModel):
    """What the review flow returns: whether the review was counted, the record's state, and why."""

    change_id: str
    reviewer: str
    accepted: bool
    state: State
    reason: str


def _close(recorder: Recorder, attempt: ReviewAttempt) -> ChangeRecord:
    """The record closed with the counted review and its proof, in one version."""
    record = recorder.record
    record.review, record.reviews = (
        f"{attempt.reviewer}: {attempt.summary}",
        [*record.reviews, attempt],
    )  # saved with the transition
    recorder.transition(State.CLOSED, f"{record.outcome}; post-implementation review by {attempt.reviewer}")
    return recorder.record


def review_change(
    store: RecordStore, change_id: str, reviewer: str, summary: str, signature: str, governance, seals
) -> ReviewResult:
    """Judge a signed review of ``change_id`` and record the outcome (see the module). ``seals``: the
    executor keys the record's versions must verify with (``services.audit.executor_seals``); a record
    that does not verify raises ``RecordTampered`` and nothing is written."""
    record = trusted(store, change_id, seals)
    who, text = person(reviewer), summary.strip()
    verdict = judge_review(
        record,
        who,
        text,
        signature,
        emergency_approvers=governance.approvers.emergency_approvers,
        approver_keys=governance.approver_keys,
        signature_valid=verify,
    )
    attempt = ReviewAttempt(
        reviewer=who,
        at=utc_now(),
        summary=text[:SUMMARY_MAX],
        counted=verdict.accepted,
        refusal="" if verdict.accepted else verdict.reason,
        summary_sha256=summary_digest(text[:SUMMARY_MAX]),
        plan_digest=record.attachments.get(PLAN_DIGEST, ""),
        signature=signature.strip()[:200],
        key_id=key_id(verdict.public_key) if verdict.accepted else "",
    )
    recorder = Recorder(record, store)
    if verdict.accepted:
        record = _close(recorder, attempt)
    elif record.state is State.REVIEW_PENDING:  # the refused attempt is kept on the record that owes the review
        recorder.note(reviews=[*record.reviews, attempt])
    return ReviewResult(
        change_id=change_id, reviewer=who, accepted=verdict.accepted, state=recorder.record.state, reason=verdict.reason
    )


def review_problem(record: ChangeRecord, governance) -> str | None:
    """Why a closed emergency's kept review does not verify against ``governance`` now (None: it does, or
    the record owes none)."""
    return kept_review_problem(
        record,
        emergency_approvers=governance.approvers.emergency_approvers,
        approver_keys=governance.approver_keys,
        signature_valid=verify,
    )
