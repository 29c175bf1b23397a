"""The governed sequence: request → assess → approve → schedule → checklist → execute → verify → close,
as plain code over the services it is given (``Governed``). The flows in ``flows.lifecycle`` build it
from the executor's own configuration and Prefect; a test builds it from fakes and runs it in
milliseconds. What differs by change type (catalog, approvers, windows, freeze override, review) comes
from the type's policy in ``domain.policy``.

Approval is the decision gate (``services.approval_gate``): the change waits for decisions from
``services.decisions``, judges each, records it, and waits again until the quorum is reached, someone
entitled rejects, or time runs out. Execution is the kind's own flow under the model's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from prefect import get_run_logger

from changeflow.bootstrap import Services, approver_credentials
from changeflow.domain.bundle import bundle_of
from changeflow.domain.decisions import GateOutcome
from changeflow.domain.identity import GOVERNANCE_BUNDLE, GOVERNANCE_SEAL, PLAN_DIGEST, plan_digest
from changeflow.domain.policy import ChangePlan, blocking, policy_for
from changeflow.domain.record import ChangeRecord, ChangeResult, State
from changeflow.domain.request import ChangeRequest, ChangeType
from changeflow.domain.windows import NoSlot, Slot, scheduling_decision, window_at, window_conflicts
from changeflow.exceptions import ChangeStateError, InvalidChangeRequest, RecordNotFound
from changeflow.kinds import kind_of, plan_for
from changeflow.services.approval_gate import gather, weigher
from changeflow.services.approval_text import approval_request_text, approval_summary
from changeflow.services.audit import executor_seals, trusted
from changeflow.services.authority import authority_refusal
from changeflow.services.recorder import Recorder, utc_now
from changeflow.services.records import related_changes
from changeflow.services.verification import DIGEST, check_request_golden, golden_digest
from changeflow.settings.defaults import SCHEDULING_CLOCK, executor_key
from changeflow.settings.governance import Governance

Execute = Callable[[ChangeRequest, ChangeRecord, Governance], ChangeResult]


class Steps(NamedTuple):
    """The governed sequence's steps. In a flow: the Prefect tasks of ``tasks.shared`` (each a task run in
    the UI); in a test: the same functions undecorated (``task.fn``)."""

    assess: Callable
    check_catalog: Callable
    schedule: Callable
    wait_for_slot: Callable
    run_checklist: Callable
    notify: Callable


@dataclass(frozen=True)
class Governed:
    """Everything the governed sequence is judged and run with, chosen by the executor, never the
    requester: its services, its governance bundle, its clock (and, when not the real one, where that
    clock came from), the steps and how the kind's execution is run."""

    services: Services
    governance: Governance
    steps: Steps
    execute: Execute
    clock: datetime
    clock_source: str | None = None


def admit(request: ChangeRequest, run: Governed) -> Recorder:
    """The checks before a record is opened (a bad golden set, nothing to do, an ID already on record),
    then the record: each refusal raises before anything is touched, as one line naming the field."""
    for warning in check_request_golden(request, run.services.production):
        get_run_logger().warning(warning)
    refuse_if_nothing_to_do(request, run.services)
    return open_request(request, run.services)


def govern(request: ChangeRequest, run: Governed, recorder: Recorder | None = None) -> ChangeResult:
    """The sequence for a request already accepted by its flow (right type, no executor-owned parameters);
    ``recorder``: the record ``admit`` opened, when the caller admitted the request itself."""
    services, governance, steps, clock = run.services, run.governance, run.steps, run.clock
    recorder = recorder if recorder is not None else admit(request, run)
    judged_under(recorder, governance)
    if run.clock_source:
        recorder.attach(SCHEDULING_CLOCK, lambda: f"{clock.isoformat()}, {run.clock_source}")
    if golden := kind_of(request).golden_set(request.change):  # what the approvers approve includes how it is judged
        recorder.attach(DIGEST, lambda: golden_digest(golden))

    history = related_changes(services.records, request, clock)  # read once: risk and conflicts
    assessment = steps.assess(recorder, services, request, window_at(governance.calendar, clock), clock, history)
    recorder.transition(State.ASSESSED, f"risk {assessment.risk.value} (score {assessment.score})")
    plan = plan_for(request, assessment.risk, warnings=tuple(window_conflicts(request, history)))
    for warning in plan.warnings:
        get_run_logger().warning("conflict: %s", warning)

    if request.type is ChangeType.STANDARD:
        match = steps.check_catalog(governance.catalog, request)
        if match.template is None:
            recorder.transition(State.REJECTED, match.reason)
            return ChangeResult.of(recorder.record)
        recorder.transition(State.APPROVED, f"pre-approved: {match.reason}")
    else:
        decided, reason = approval_gate(recorder, services, request, plan, governance)
        recorder.transition(decided, reason)
        if decided is not State.APPROVED:
            return ChangeResult.of(recorder.record)

    slot = steps.schedule(
        recorder, governance.calendar, request, assessment.risk, clock, governance.expected_duration_minutes
    )
    if isinstance(slot, NoSlot):
        recorder.transition(State.EXPIRED, f"cannot be scheduled: {slot.reason}")
        return ChangeResult.of(recorder.record)
    decision = scheduling_decision(slot, clock, clock_given=run.clock_source is not None)
    recorder.transition(State.SCHEDULED, decision.reason)
    if decision.hand_off:
        return ChangeResult.of(recorder.record)
    if decision.wait:
        steps.wait_for_slot(slot, clock)
    return execute_scheduled(recorder, run, request, plan, slot)


def approval_gate(
    recorder: Recorder, services: Services, request: ChangeRequest, plan: ChangePlan, governance: Governance
) -> tuple[State, str]:
    """(APPROVED, REJECTED or EXPIRED, why); every decision, counted or refused, is on the record. A
    decision counts only with proof of its approver's identity, given on this plan's digest."""
    digest = recorder.record.attachments.get(DIGEST)
    judged_by = (kind_of(request).golden_set(request.change), digest) if digest else None
    bake = kind_of(request).bake_rule(governance.verification, request.change)  # what the kind flow will bake with
    waves = kind_of(request).waves(governance.verification, request.type)
    approving = recorder.attach(
        PLAN_DIGEST, lambda: plan_digest(request, plan, digest, recorder.record.attachments[GOVERNANCE_BUNDLE])
    )
    credentials = approver_credentials(governance.approver_keys, governance.authenticators)
    notices = services.notices
    told = approval_request_text(request, plan, approving, notices.link())
    notices.tell(governance.notify_approvers, f"Change {request.id} waits for your approval", told)
    overdue = notices.overdue(
        request.id,
        governance.approval_overdue_s,
        {"approvals_required": plan.approvals_required, "pool": plan.approval_pool.value},
        also=lambda: notices.tell(
            governance.notify_approvers, f"Overdue: change {request.id} still waits for approval", told
        ),
    )
    try:
        result = gather(
            services.decisions,
            purpose="approval",
            digest=approving,
            required=plan.approvals_required,
            weigh=weigher(request, governance, credentials, services.records, approving, executor_key()),
            keep=lambda entry: recorder.note(approvals=[*recorder.record.approvals, entry]),
            form=lambda approved_by, refusals: approval_summary(
                request,
                plan,
                list(recorder.record.risk_reasons),
                approved_by,
                refusals,
                judged_by,
                approving,
                bake,
                waves,
            ),
            timeout_s=governance.approval_timeout_s,
            poll_s=governance.approval_poll_s,
            log=get_run_logger(),
        )
    finally:
        overdue.cancel()
    if result.outcome is GateOutcome.REJECTED:
        return State.REJECTED, f"rejected by {result.decided_by}: nothing was touched"
    if result.outcome is GateOutcome.EXPIRED:
        return State.EXPIRED, f"no valid decision within {governance.approval_timeout_s}s: nothing was touched"
    return State.APPROVED, f"approved by {', '.join(result.approved_by)} ({plan.approvals_required} required)"


def execute_scheduled(
    recorder: Recorder, run: Governed, request: ChangeRequest, plan: ChangePlan, slot: Slot
) -> ChangeResult:
    """Judge the record's authority again, notify, run the pre-change checklist, then the kind's execution
    under the model's lock. Shared by the governed flows (slot open now) and the maintenance-window flow
    (later). A record whose chain does not verify raises ``RecordTampered`` before anything runs."""
    services, governance, steps = run.services, run.governance, run.steps
    record = trusted(services.records, request.id, executor_seals(governance))
    if (refused := authority_refusal(record, governance, plan)) is not None:
        recorder.transition(State.ABORTED, f"refused before executing: {refused}; nothing was touched")
        return ChangeResult.of(recorder.record)
    delivered = steps.notify(governance, recorder.record, "executing")
    items = steps.run_checklist(services, request, plan, slot, delivered)
    if failed := blocking(items):
        recorder.transition(
            State.ABORTED, "pre-change checklist failed: " + "; ".join(f"{i.name}: {i.reason}" for i in failed)
        )
        return ChangeResult.of(recorder.record)
    get_run_logger().info("pre-change checklist passed (%d items)", len(items))
    with services.locks.hold(request.model, governance.lock_timeout_s) as lease:
        recorder.note(
            executor={**recorder.record.executor, "lock": lease}
        )  # the safety net frees it if this process dies
        try:
            result = run.execute(request, recorder.record, governance)
        finally:
            record = recorder.reload()
            steps.notify(governance, record, "rolled back" if record.state is State.ROLLED_BACK else record.state.value)
    return result


def judged_under(recorder: Recorder, governance: Governance) -> None:
    """Name on the record the governance bundle that judges the change (its digest goes into what the
    approvers sign) and who sealed it."""
    recorder.attach(GOVERNANCE_BUNDLE, lambda: bundle_of(governance.bundle))
    recorder.attach(
        GOVERNANCE_SEAL,
        lambda: (
            governance.bundle.describe() if governance.bundle else "governance given in memory, not read from a bundle"
        ),
    )


def refuse_if_nothing_to_do(request: ChangeRequest, services: Services, source: str = "change request") -> None:
    """A change that would change nothing (e.g. the version production already serves) is refused before
    a record is opened."""
    if (nothing := kind_of(request).nothing_to_do(services, request)) is not None:
        field, why = nothing
        raise InvalidChangeRequest(source, field, why, "name the version (or state) you mean to move to")


def open_request(request: ChangeRequest, services: Services) -> Recorder:
    """A new record in ``requested`` for a governed change; an ID already on record is refused."""
    try:
        existing = services.records.load(request.id)
    except RecordNotFound:
        existing = None
    if existing is not None:
        raise ChangeStateError(f"{request.id} already exists ({existing.state}); give the new request its own ID")
    recorder = Recorder(ChangeRecord.open(request, policy_for(request.type).baseline_risk, utc_now()), services.records)
    recorder.note()  # first save: the request is on record before anything is assessed
    return recorder
