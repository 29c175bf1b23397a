"""One compensation mechanism for every execution flow, and the rollback subflow it runs.

An execution flow is a straight sequence inside ``with Execution(...) as run:``. The guard knows from
the record whether production was touched (a step says ``run.recorder.touching_production()`` before
its first effect), so every way out is handled the same for every kind:

- a verdict that did not pass (``run.require``): before production was touched the change is
  ``aborted``; after, it is rolled back and the flow returns the rolled-back result;
- an exception: ``aborted`` before production was touched, rolled back after; then it is re-raised;
- a cancellation during the bake: rolled back, and the flow run ends *Cancelled*.

The rollback subflow needs only the change ID: the kind's ``restore`` (in its flow module) reads what to
restore from the record, so the safety net can run it for a change whose own flow died. It needs no
approval: it restores what was approved.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from changeflow.flows.kind_flows import restore_of
from prefect import flow, get_run_logger
from prefect.states import Cancelled
from pydantic import BaseModel

from changeflow.adapters.prefect import refuse_executor_parameters
from changeflow.bootstrap import Services, bootstrap
from changeflow.domain.comparison import DoubtAction, Verification
from changeflow.domain.policy import policy_for
from changeflow.domain.record import ROLLBACK_MS, ChangeRecord, ChangeResult, RollbackResult, State, closing_state
from changeflow.domain.request import ChangeRequest
from changeflow.domain.verdicts import Outcome, Verdict
from changeflow.exceptions import ChangeCancelled, ChangeStateError, RecordNotFound, RollbackFailed
from changeflow.kinds import kind_of
from changeflow.services.audit import executor_seals, trusted
from changeflow.services.drift import capture_approved
from changeflow.services.recorder import Recorder, utc_now
from changeflow.settings.defaults import environment_or_default
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance

DIRECT = "direct execution"


class Restoration(BaseModel):
    """What a kind's ``restore`` did: what it put back, the verdict on it, how long it took."""

    restored: str
    verdict: Verdict
    rollback_ms: float | None = None
    serving_version_after: int | None = None


class _NotPassed(Exception):
    def __init__(self, verdict: Verdict, abort: str) -> None:
        super().__init__(str(verdict))
        self.verdict, self.abort = verdict, abort


class Execution:
    """The guard around one execution flow (see the module docstring)."""

    def __init__(
        self,
        request: ChangeRequest,
        services: Services,
        record: ChangeRecord | None,
        kind: str,
        on_abort: Callable[[Execution], None] | None = None,
        governance: Governance | None = None,
        roll_back: Callable[[str, str], RollbackResult] | None = None,
    ) -> None:
        """``on_abort``: what to tidy when the change stops before production is touched (e.g. a green
        Deployment it created); a failure there is logged and recorded, never raised over the first one.
        ``governance``: what a doubtful bake does (without it, run directly: roll back). ``roll_back(change
        ID, why)``: the compensation (default: the ``rollback`` subflow on these services' environment)."""
        self.on_abort, self.governance = on_abort, governance
        if request.kind != kind:
            raise ChangeStateError(f"{request.id} is a {request.kind} change, not {kind}: run it with its own flow")
        self.request, self.services = request, services
        self.roll_back = roll_back or (
            lambda change_id, why: rollback_change(change_id, services.environment, reason=why)
        )
        self.recorder = open_for_execution(request, self.services, record)
        self.result: ChangeResult | Cancelled | None = None

    def require(self, verdict: Verdict, abort: str = "validation failed, production untouched") -> Verdict:
        """Go on only if ``verdict`` passed; ``abort`` says why on the record when production is untouched."""
        if not verdict.passed:
            raise _NotPassed(verdict, abort)
        return verdict

    @property
    def verification(self) -> Verification:
        return self.governance.verification if self.governance is not None else Verification()

    def require_bake(self, verdict: Verdict, details: list[str] = ()) -> Verdict:
        """Go on if the bake passed; otherwise do what the type's policy says for this verdict: roll back,
        or ask a person (``flows.doubt``) whose "promote anyway" lets the change go on."""
        if verdict.passed:
            return verdict
        if self.governance is not None and self.verification.action(self.request.type, verdict) is DoubtAction.ASK:
            from changeflow.flows.doubt import ask_on_doubt

            promote, why = ask_on_doubt(
                self.recorder, self.services, self.request, verdict, list(details), self.governance
            )
            if promote:
                return Verdict(outcome=Outcome.PASS, reason=why)
            verdict = verdict.model_copy(update={"reason": f"{verdict.reason}; {why}"})
        raise _NotPassed(verdict, "bake did not pass")

    def verifying(self, reason: str) -> None:
        self.recorder.transition(State.VERIFYING, reason)

    def close(self, reason: str, **notes) -> None:
        """Verified: closed, or review pending for a type that owes a post-implementation review. The state
        production is left in goes on the record first: it is what the drift check compares against."""
        if notes:
            self.recorder.note(**notes)
        capture_approved(self.services, self.recorder)
        self.recorder.transition(
            closing_state(policy_for(self.recorder.record.type).post_implementation_review), reason
        )
        self.result = ChangeResult.of(self.recorder.record)

    def __enter__(self) -> Execution:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            return False
        record = self.recorder.record
        if not record.production_touched:
            why = (
                f"{exc.abort}: {exc.verdict.reason}"
                if isinstance(exc, _NotPassed)
                else f"aborted before production was touched: {exc}"
            )
            if self.on_abort is not None:
                try:
                    self.on_abort(self)
                except Exception as cleanup:  # the change is aborted either way; say what was left behind
                    why += f" (tidying up failed: {cleanup.__class__.__name__}: {cleanup})"
                    get_run_logger().warning("tidying up %s failed: %s", record.id, cleanup)
            self.recorder.transition(State.ABORTED, why)
            self.result = ChangeResult.of(self.recorder.record)
            return isinstance(exc, _NotPassed)
        if isinstance(exc, _NotPassed):
            self.result = self._compensate(str(exc.verdict))
            return True
        if isinstance(exc, ChangeCancelled):
            result = self._compensate(str(exc))
            self.result = Cancelled(
                message=f"{exc}; production restored: {result.outcome}", data=exc
            )  # raises ChangeCancelled to a caller
            return True
        self.roll_back(record.id, f"{exc.__class__.__name__}: {exc}")
        return False

    def _compensate(self, reason: str) -> ChangeResult:
        rollback = self.roll_back(self.recorder.record.id, reason)
        return ChangeResult.of(self.recorder.reload(), rollback.rollback_ms)


def open_for_execution(request: ChangeRequest, services: Services, record: ChangeRecord | None) -> Recorder:
    """The change's record moved to ``executing``. A governed change arrives ``scheduled``; run directly
    with no record, the flow opens one and says so on it: no approval gate was passed."""
    store = services.records
    if record is None:
        try:
            record = store.load(request.id)
        except RecordNotFound:
            record = None
    if record is None:
        recorder = Recorder(ChangeRecord.open(request, policy_for(request.type).baseline_risk, utc_now()), store)
        recorder.transition(State.ASSESSED, f"{DIRECT}: baseline risk of a {request.type} change")
        recorder.transition(
            State.APPROVED, f"{DIRECT}: no approval gate (use the {request.type} change flow to govern it)"
        )
        recorder.transition(State.SCHEDULED, f"{DIRECT}: run now")
    else:
        recorder = Recorder(record, store)
    if recorder.record.state is not State.SCHEDULED:
        raise ChangeStateError(
            f"{recorder.record.id} is '{recorder.record.state}', not 'scheduled': it cannot execute (again)"
        )
    recorder.note(executor={**recorder.record.executor, **executor_identity()})  # keeps the model lock's lease
    recorder.transition(State.EXECUTING, "execution started")
    return recorder


def executor_identity() -> dict[str, str]:
    """Who runs the change, so the safety net can tell a dead executor from a slow one. The root flow run
    is the one a worker marks *Crashed* when the process dies (a subflow is left *Running*)."""
    from prefect.runtime import flow_run

    return {
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
        "flow_run_id": str(flow_run.id or ""),
        "root_flow_run_id": str(flow_run.root_flow_run_id or ""),
    }


@flow(name="rollback", log_prints=False)
def rollback_change(
    change_id: str, environment: Environment | None = None, reason: str = "rollback requested", free_lock: str = ""
) -> RollbackResult:
    """Restore the last approved state of production for ``change_id``, verify it, record it (``roll_back``)."""
    refuse_executor_parameters(environment=environment)
    return roll_back(change_id, bootstrap(environment_or_default(environment)), reason, free_lock)


def roll_back(
    change_id: str, services: Services, reason: str = "rollback requested", free_lock: str = ""
) -> RollbackResult:
    """The kind's ``restore`` for ``change_id``, verified and recorded. ``free_lock`` (the safety net
    settling a dead executor's change): the lease of the model's lock to free once production is verified,
    before the record says so, so the next change finds the model free."""
    logger = get_run_logger()
    recorder = Recorder(
        trusted(services.records, change_id, executor_seals()), services.records
    )  # a rewritten or unsigned record drives nothing
    record = recorder.record
    if record.state is State.ROLLED_BACK:
        logger.info("%s is already rolled back; nothing to do", change_id)
        return RollbackResult(
            change_id=change_id, state=record.state, restored=record.outcome, verified="already verified"
        )
    logger.warning("rolling back %s: %s", change_id, reason)
    try:
        restoration: Restoration = restore_of(kind_of(record.kind))(recorder, services, record)
    except Exception as exc:  # the record must say production needs a person, whatever broke
        recorder.note(outcome=f"ROLLBACK FAILED, production needs attention: {exc.__class__.__name__}: {exc}")
        raise RollbackFailed(
            f"{change_id}: the rollback did not complete ({exc.__class__.__name__}: {exc}); production needs attention"
        ) from exc
    if not restoration.verdict.passed:
        recorder.note(outcome=f"ROLLBACK NOT VERIFIED: {restoration.verdict}")
        raise RollbackFailed(
            f"{change_id}: restored {restoration.restored} but verification failed: {restoration.verdict}"
        )
    if restoration.serving_version_after is not None:
        recorder.note(serving_version_after=restoration.serving_version_after)
    if restoration.rollback_ms is not None:  # what the restore took, kept with the record that measured it
        recorder.note(attachments={**recorder.record.attachments, ROLLBACK_MS: f"{restoration.rollback_ms:.3f}"})
    if free_lock:
        services.locks.release(free_lock)
    recorder.transition(
        State.ROLLED_BACK, f"rolled back ({reason}); {restoration.restored} verified: {restoration.verdict.reason}"
    )
    return RollbackResult(
        change_id=change_id,
        state=State.ROLLED_BACK,
        restored=restoration.restored,
        verified=str(restoration.verdict),
        rollback_ms=restoration.rollback_ms,
    )


def compensate_if_touched(flow, flow_run, state) -> None:
    """Flow-run hook (cancellation, crash): roll back when the change touched production and is open."""
    logger = get_run_logger()
    parameters = flow_run.parameters or {}
    try:
        environment = Environment.model_validate(parameters["environment"])
        change_id = parameters["request"]["id"]
    except (KeyError, TypeError, ValueError) as exc:
        logger.error("cannot compensate flow run %s: parameters unreadable (%s)", flow_run.name, exc)
        return
    record = bootstrap(environment).records.load(change_id)
    if record.production_touched and not record.is_terminal:
        logger.warning("%s ended %s after touching production: rolling back", change_id, state.type.value)
        rollback_change(change_id, environment, reason=f"flow run {flow_run.name} {state.type.value.lower()}")


HOOKS = dict(on_cancellation=[compensate_if_touched], on_crashed=[compensate_if_touched])
