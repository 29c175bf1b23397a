"""Post-implementation review: closes an emergency change that is ``review_pending``. Executor side only:
the record is written by the process that holds the executor key (the ``post-implementation-review``
flow on a worker, or an in-process executor such as the demo's), never by the reviewer's own process.

- ``review_change``: what the review flow runs: the record read only when its versions verify, the review
  judged (``domain.review.judge_review``: an emergency approver who is not the requester, a summary, a
  signature by the reviewer's key in the governance bundle), then closed with its proof kept, or the
  refused attempt noted with why (only on a record that owes a review: nothing else is written to).
- ``submit_review``: the closing write itself (and, for in-process executors, the unsigned path).
- ``review_problem``: a closed emergency's kept review judged again against the governance's keys.
"""

from __future__ import annotations

from pydantic import BaseModel

from changeflow.domain.identity import PLAN_DIGEST, person, summary_digest
from changeflow.domain.record import ChangeRecord, State
from changeflow.domain.review import SUMMARY_MAX, SUMMARY_MIN, ReviewAttempt, judge_review, kept_review_problem
from changeflow.exceptions import ChangeStateError, InvalidChangeRequest
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


def _close(recorder: Recorder, reviewer: str, summary: str, attempt: ReviewAttempt | None) -> ChangeRecord:
    record = recorder.record
    fields = {"review": f"{reviewer}: {summary}"}
    if attempt is not None:
        fields["reviews"] = [*record.reviews, attempt]
    for name, value in fields.items():
        setattr(record, name, value)  # saved with the transition below: one version closes the record with its review
    recorder.transition(State.CLOSED, f"{record.outcome}; post-implementation review by {reviewer}")
    return recorder.record


def submit_review(store: RecordStore, change_id: str, reviewer: str, summary: str, attempt: ReviewAttempt | None = None) -> ChangeRecord:
    """Close a ``review_pending`` record with ``summary`` (and ``attempt``, the counted review with its
    proof). Executor side only: the caller holds the executor key its store signs versions with."""
    text = summary.strip()
    if len(text) < SUMMARY_MIN:
        raise InvalidChangeRequest("--summary", "summary", "is too short", f"write what happened and what follows ({SUMMARY_MIN} characters or more)")
    recorder = Recorder(store.load(change_id), store)
    if recorder.record.state is not State.REVIEW_PENDING:
        raise ChangeStateError(f"{change_id} is '{recorder.record.state}', not 'review_pending': no review is owed")
    return _close(recorder, person(reviewer), text, attempt)


def review_change(store: RecordStore, change_id: str, reviewer: str, summary: str, signature: str, governance, seals) -> ReviewResult:
    """Judge a signed review of ``change_id`` and record the outcome (see the module). ``seals``: the
    executor keys the record's versions must verify with (``services.audit.executor_seals``); a record
    that does not verify raises ``RecordTampered`` and nothing is written."""
    record = trusted(store, change_id, seals)
    who, text = person(reviewer), summary.strip()
    verdict = judge_review(record, who, text, signature, emergency_approvers=governance.approvers.emergency_approvers,
                           approver_keys=governance.approver_keys, signature_valid=verify)
    attempt = ReviewAttempt(reviewer=who, at=utc_now(), summary=text[:SUMMARY_MAX], counted=verdict.accepted,
                            refusal="" if verdict.accepted else verdict.reason, summary_sha256=summary_digest(text[:SUMMARY_MAX]),
                            plan_digest=record.attachments.get(PLAN_DIGEST, ""), signature=signature.strip()[:200],
                            key_id=key_id(verdict.public_key) if verdict.accepted else "")
    recorder = Recorder(record, store)
    if verdict.accepted:
        record = _close(recorder, who, text, attempt)
    elif record.state is State.REVIEW_PENDING:  # the refused attempt is kept on the record that owes the review
        recorder.note(reviews=[*record.reviews, attempt])
    return ReviewResult(change_id=change_id, reviewer=who, accepted=verdict.accepted, state=recorder.record.state, reason=verdict.reason)


def review_problem(record: ChangeRecord, governance) -> str | None:
    """Why a closed emergency's kept review does not verify against ``governance`` now (None: it does, or
    the record owes none)."""
    return kept_review_problem(record, emergency_approvers=governance.approvers.emergency_approvers,
                               approver_keys=governance.approver_keys, signature_valid=verify)
