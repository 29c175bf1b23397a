"""Post-implementation review: closes an emergency change that is ``review_pending``."""

from __future__ import annotations

from changeflow.domain.record import ChangeRecord, State
from changeflow.exceptions import ChangeStateError, InvalidChangeRequest
from changeflow.ports import RecordStore
from changeflow.services.recorder import Recorder


def submit_review(store: RecordStore, change_id: str, reviewer: str, summary: str) -> ChangeRecord:
    if len(summary.strip()) < 10:
        raise InvalidChangeRequest("--summary", "summary", "is too short", "write what happened and what follows (10 characters or more)")
    recorder = Recorder(store.load(change_id), store)
    if recorder.record.state is not State.REVIEW_PENDING:
        raise ChangeStateError(f"{change_id} is '{recorder.record.state}', not 'review_pending': no review is owed")
    recorder.note(review=f"{reviewer}: {summary.strip()}")
    recorder.transition(State.CLOSED, f"{recorder.record.outcome}; post-implementation review by {reviewer}")
    return recorder.record
