"""What every execution flow does first: find or open the change record and enter ``executing``."""

from __future__ import annotations

from changeflow.adapters.factory import record_store
from changeflow.domain.lifecycle import closing_state
from changeflow.domain.policy import policy_for
from changeflow.domain.record import ChangeRecord
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeKind, State
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError, RecordNotFound
from changeflow.recorder import Recorder, utc_now

DIRECT = "direct execution"


def open_recorder(request: ChangeRequest, environment: Environment, record: ChangeRecord | None, kind: ChangeKind) -> Recorder:
    """A recorder on the change's record, moved to ``executing``; refuses a request of another ``kind``.

    A governed change arrives ``scheduled`` (its lifecycle flow assessed, approved and scheduled it).
    Run directly with no record, the flow opens one and says so on it: no approval gate was passed.
    """
    if request.kind is not kind:
        raise ChangeflowError(f"{request.id} is a {request.kind.value} change, not {kind.value}: run it with its own flow")
    store = record_store(environment.records)
    if record is None:
        try:
            record = store.load(request.id)
        except RecordNotFound:
            record = None
    if record is None:
        record = ChangeRecord.open(request, policy_for(request.type).baseline_risk, utc_now())
        recorder = Recorder(record, store)
        recorder.transition(State.ASSESSED, f"{DIRECT}: baseline risk of a {request.type} change")
        recorder.transition(State.APPROVED, f"{DIRECT}: no approval gate (use the {request.type} change flow to govern it)")
        recorder.transition(State.SCHEDULED, f"{DIRECT}: run now")
    else:
        recorder = Recorder(record, store)
    if record.state is not State.SCHEDULED:
        raise ChangeflowError(f"{record.id} is '{record.state}', not 'scheduled': it cannot execute (again)")
    recorder.note(executor=executor_identity())
    recorder.transition(State.EXECUTING, "execution started")
    return recorder


def executor_identity() -> dict[str, str]:
    """Who runs the change, so the safety net can tell a dead executor from a slow one."""
    import os
    import socket

    from prefect.runtime import flow_run

    return {"host": socket.gethostname(), "pid": str(os.getpid()), "flow_run_id": str(flow_run.id or "")}


def open_request(request: ChangeRequest, environment: Environment) -> Recorder:
    """A new record in ``requested`` for a governed change; an ID already on record is refused."""
    store = record_store(environment.records)
    try:
        existing = store.load(request.id)
    except RecordNotFound:
        existing = None
    if existing is not None:
        raise ChangeflowError(f"{request.id} already exists ({existing.state}); give the new request its own ID")
    record = ChangeRecord.open(request, policy_for(request.type).baseline_risk, utc_now())
    recorder = Recorder(record, store)
    recorder.note()  # first save: the request is on record before anything is assessed
    return recorder


def close_change(recorder: Recorder, reason: str) -> None:
    """Verified: closed, or review pending for a type that owes a post-implementation review."""
    needs_review = policy_for(recorder.record.type).post_implementation_review
    recorder.transition(closing_state(needs_review), reason)


def load_recorder(change_id: str, environment: Environment) -> Recorder:
    store = record_store(environment.records)
    return Recorder(store.load(change_id), store)
