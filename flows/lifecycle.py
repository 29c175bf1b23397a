"""The governed change: request → assess → approve → schedule → checklist → execute → verify → close.

Three flows, one per change type, share this sequence; what differs (catalog, approvers, windows, freeze
override, review) comes from the type's policy in ``domain.policy``. Approval is a pause: the flow waits
for an ``ApprovalDecision`` filled in on the Prefect UI's resume form (or sent by ``changeflow approve``
through the same API), judges it, records it, and pauses again until the quorum is reached, someone
entitled rejects, or time runs out. Execution is the kind's own flow under the model's lock.
"""

from __future__ import annotations

import time
from datetime import datetime

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.flow_runs import FlowPauseTimeout, pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from changeflow.adapters.notifications import flow_run_link, tell_approvers
from changeflow.adapters.prefect import approval_request_text, change_run_name, overdue_notice, run_origin
from changeflow.adapters.prefect_recovery import start_safety_net
from changeflow.bootstrap import Services, approver_credentials, bootstrap
from changeflow.domain.policy import blocking
from changeflow.domain.bundle import bundle_of
from changeflow.domain.identity import GOVERNANCE_BUNDLE, GOVERNANCE_SEAL, PLAN_DIGEST, person, plan_digest
from changeflow.domain.policy import ChangePlan, Decision, Judgement, judge, policy_for, quorum_reached
from changeflow.domain.record import Approval, ChangeRecord, ChangeResult, State
from changeflow.domain.request import ChangeRequest, ChangeType
from changeflow.domain.windows import NoSlot, Slot, scheduling_decision, window_at, window_conflicts
from changeflow.exceptions import ChangeStateError, InvalidChangeRequest, RecordNotFound
from changeflow.kinds import kind_of, plan_for
from changeflow.adapters.prefect import approval_summary
from changeflow.services.verification import DIGEST, check_request_golden, golden_digest
from changeflow.services.approvals import check_proof, kept_proof
from changeflow.services.audit import executor_seals, trusted
from changeflow.services.authority import authority_refusal
from changeflow.services.recorder import Recorder, utc_now
from changeflow.services.records import related_changes
from changeflow.domain.separation import run_refusal
from changeflow.settings.defaults import SCHEDULING_CLOCK, environment_or_default, executor_key, governance_or_default, governance_pins, scheduling_clock
from changeflow.settings.environment import Environment
from changeflow.settings.governance import Governance
from changeflow.tasks.shared import assess, check_catalog, notify, run_checklist, schedule, wait_for_slot


class ApprovalDecision(RunInput):
    """The form an approver fills in to resume a paused change."""

    approve: bool = Field(False, description="Approve this change (off: reject it)")
    approver: str = Field("", description="Your identity, e.g. carol")
    code: str = Field("", description="The one-time code your authenticator app shows for changeflow")
    comment: str = Field("", description="Why; shown on the change record")
    plan_digest: str = Field("", description="What you approve: the digest of this request and plan (leave as shown)")
    signature: str = Field("", description="Set by `changeflow approve`; leave empty in the UI")


def malformed(answer: ApprovalDecision) -> Judgement | None:
    """A decision sent without ``approve`` is refused: silence is neither a yes nor a no."""
    if "approve" in answer.model_fields_set:
        return None
    who = person(answer.approver) or "(blank)"
    return Judgement(accepted=False, reason=f"{who}: the decision has no `approve` field, so it is malformed; send approve: true or false")


def weigh(answer: ApprovalDecision, request: ChangeRequest, services: Services, governance: Governance, credentials,
          digest: str, already: list[str]) -> tuple[Decision, Judgement, Approval]:
    """One submitted decision judged: well formed, by someone entitled (``domain.policy.judge``), with proof
    of identity on ``digest``; and the record entry that keeps it, counted or refused with why."""
    decision = Decision(approve=answer.approve, approver=person(answer.approver), comment=answer.comment)
    verdict = malformed(answer) or judge(decision, requester=person(request.requester), policy=policy_for(request.type),
                                         approvers=governance.approvers, already=already)
    proof = None
    if verdict.accepted and governance.require_proof:
        proof = check_proof(credentials, services.records, change_id=request.id, approver=decision.approver, approve=decision.approve,
                            digest=digest, given_digest=answer.plan_digest, code=answer.code, signature=answer.signature)
        if not proof.valid:
            verdict = Judgement(accepted=False, reason=f"{decision.approver}: {proof.reason}")
    entry = Approval(
        approver=decision.approver or "(blank)", decision="approve" if decision.approve else "reject", at=utc_now(),
        comment=decision.comment, counted=verdict.accepted, refusal="" if verdict.accepted else verdict.reason,
        proof=proof.kind if proof is not None and proof.valid else "", plan_digest=answer.plan_digest.strip()[:64],
        **kept_proof(proof, request.id, decision.approver, decision.approve, digest, answer.signature, executor_key()),
    )
    return decision, verdict, entry


def govern(request: ChangeRequest, environment: Environment | None, governance: Governance | None, now: datetime | None, change_type: ChangeType) -> ChangeResult:
    """The governed sequence. A run created from a deployment takes the environment, governance and clock
    from the executor's own configuration (its environment file, its sealed governance bundle,
    ``CHANGEFLOW_CLOCK``); one that brings its own is refused on the record. ``environment`` /
    ``governance`` / ``now`` are for in-process callers that are the executor (tests)."""
    if request.type is not change_type:
        raise ChangeStateError(f"{request.id} is a {request.type} change; run it with the {request.type}-change flow")
    from_deployment, job_variables = run_origin()
    if (overridden := run_refusal(from_deployment, {}, job_variables)) is not None:
        raise ChangeStateError(overridden)  # the process itself may run on the requester's variables: trust none of its configuration
    given = {"environment": environment is not None, "governance": governance is not None, "now": now is not None}
    if (refused := run_refusal(from_deployment, given, {}, bool(governance_pins()))) is not None:
        environment = governance = now = None  # never used: the record is opened with the executor's own configuration
    services, governance = bootstrap(environment_or_default(environment)), governance_or_default(governance)
    if refused is not None:
        recorder = open_request(request, services)
        recorder.transition(State.REJECTED, refused)
        get_run_logger().error("%s %s", request.id, refused)
        return ChangeResult.of(recorder.record)
    for warning in check_request_golden(request, services.production):  # a bad golden set stops it here, nothing touched
        get_run_logger().warning(warning)
    refuse_if_nothing_to_do(request, services)
    clock, clock_source = scheduling_clock(now, request.type.value)
    recorder = open_request(request, services)
    judged_under(recorder, governance)
    if clock_source:
        recorder.attach(SCHEDULING_CLOCK, lambda: f"{clock.isoformat()}, {clock_source}")
    if golden := kind_of(request).golden_set(request.change):  # what the approvers approve includes how it is judged
        recorder.attach(DIGEST, lambda: golden_digest(golden))

    history = related_changes(services.records, request, clock)  # read once: risk and conflicts
    assessment = assess(recorder, services, request, window_at(governance.calendar, clock), clock, history)
    recorder.transition(State.ASSESSED, f"risk {assessment.risk.value} (score {assessment.score})")
    plan = plan_for(request, assessment.risk, warnings=tuple(window_conflicts(request, history)))
    for warning in plan.warnings:
        get_run_logger().warning("conflict: %s", warning)

    if request.type is ChangeType.STANDARD:
        match = check_catalog(governance.catalog, request)
        if match.template is None:
            recorder.transition(State.REJECTED, match.reason)
            return ChangeResult.of(recorder.record)
        recorder.transition(State.APPROVED, f"pre-approved: {match.reason}")
    else:
        decided, reason = approval_gate(recorder, services, request, plan, governance)
        recorder.transition(decided, reason)
        if decided is not State.APPROVED:
            return ChangeResult.of(recorder.record)

    slot = schedule(recorder, governance.calendar, request, assessment.risk, clock, governance.expected_duration_minutes)
    if isinstance(slot, NoSlot):
        recorder.transition(State.EXPIRED, f"cannot be scheduled: {slot.reason}")
        return ChangeResult.of(recorder.record)
    decision = scheduling_decision(slot, clock, clock_given=clock_source is not None)
    recorder.transition(State.SCHEDULED, decision.reason)
    if decision.hand_off:
        return ChangeResult.of(recorder.record)
    if decision.wait:
        wait_for_slot(slot, clock)
    return execute_scheduled(recorder, services, request, governance, plan, slot)


def approval_gate(recorder: Recorder, services: Services, request: ChangeRequest, plan: ChangePlan, governance: Governance) -> tuple[State, str]:
    """(APPROVED, REJECTED or EXPIRED, why); every decision, counted or refused, is on the record. A
    decision counts only with proof of its approver's identity, given on this plan's digest."""
    logger = get_run_logger()
    approved_by: list[str] = []
    refusals: list[str] = []
    digest = recorder.record.attachments.get(DIGEST)
    judged_by = (kind_of(request).golden_set(request.change), digest) if digest else None
    approving = recorder.attach(PLAN_DIGEST, lambda: plan_digest(request, plan, digest, recorder.record.attachments[GOVERNANCE_BUNDLE]))
    credentials = approver_credentials(governance.approver_keys, governance.authenticators)
    told = approval_request_text(request, plan, approving, flow_run_link(str(FlowRunContext.get().flow_run.id)))
    tell_approvers(governance.notify_approvers, f"Change {request.id} waits for your approval", told)
    overdue = overdue_notice(request.id, governance.approval_overdue_s, {"approvals_required": plan.approvals_required, "pool": plan.approval_pool.value},
                             also=lambda: tell_approvers(governance.notify_approvers, f"Overdue: change {request.id} still waits for approval", told))
    deadline = time.monotonic() + governance.approval_timeout_s
    expired = (State.EXPIRED, f"no valid decision within {governance.approval_timeout_s}s: nothing was touched")
    try:
        while not quorum_reached(approved_by, plan.approvals_required):
            remaining = int(deadline - time.monotonic())
            if remaining <= 0:
                return expired
            form = ApprovalDecision.with_initial_data(
                description=approval_summary(request, plan, list(recorder.record.risk_reasons), approved_by, refusals, judged_by, approving),
                approve=False, approver="", code="", comment="", plan_digest=approving, signature="",
            )
            logger.info("%s waits for approval %d of %d (%s)", request.id, len(approved_by) + 1, plan.approvals_required, plan.approval_pool.value)
            try:
                answer = pause_flow_run(wait_for_input=form, timeout=remaining, poll_interval=governance.approval_poll_s)
            except FlowPauseTimeout:
                return expired
            decision, verdict, entry = weigh(answer, request, services, governance, credentials, approving, approved_by)
            recorder.note(approvals=[*recorder.record.approvals, entry])
            if not verdict.accepted:
                refusals.append(verdict.reason)
                logger.warning("decision not counted: %s", verdict.reason)
                continue
            logger.info("decision counted: %s", verdict.reason)
            if not decision.approve:
                return State.REJECTED, f"rejected by {decision.approver}: nothing was touched"
            approved_by.append(decision.approver)
    finally:
        overdue.cancel()
    return State.APPROVED, f"approved by {', '.join(approved_by)} ({plan.approvals_required} required)"


def execute_scheduled(recorder: Recorder, services: Services, request: ChangeRequest, governance: Governance, plan: ChangePlan, slot: Slot) -> ChangeResult:
    """Judge the record's authority again, notify, run the pre-change checklist, then the kind's execution
    flow under the model's lock. Shared by the governed flows (slot open now) and the maintenance-window
    flow (later). A record whose chain does not verify raises ``RecordTampered`` before anything runs."""
    record = trusted(services.records, request.id, executor_seals(governance))
    if (refused := authority_refusal(record, governance, plan)) is not None:
        recorder.transition(State.ABORTED, f"refused before executing: {refused}; nothing was touched")
        return ChangeResult.of(recorder.record)
    delivered = notify(governance, recorder.record, "executing")
    items = run_checklist(services, request, plan, slot, delivered)
    if failed := blocking(items):
        recorder.transition(State.ABORTED, "pre-change checklist failed: " + "; ".join(f"{i.name}: {i.reason}" for i in failed))
        return ChangeResult.of(recorder.record)
    get_run_logger().info("pre-change checklist passed (%d items)", len(items))
    with services.locks.hold(request.model, governance.lock_timeout_s) as lease:
        recorder.note(executor={**recorder.record.executor, "lock": lease})  # the safety net frees it if this process dies
        try:
            result = kind_of(request).load_flow()(request, services.environment, recorder.record, governance)
        finally:
            record = recorder.reload()
            notify(governance, record, "rolled back" if record.state is State.ROLLED_BACK else record.state.value)
    return result


def judged_under(recorder: Recorder, governance: Governance) -> None:
    """Name on the record the governance bundle that judges the change (its digest goes into what the
    approvers sign) and who sealed it."""
    recorder.attach(GOVERNANCE_BUNDLE, lambda: bundle_of(governance.bundle))
    recorder.attach(GOVERNANCE_SEAL, lambda: governance.bundle.describe() if governance.bundle else "governance given in memory, not read from a bundle")


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


@flow(name="standard-change", flow_run_name=change_run_name, on_crashed=[start_safety_net])
def standard_change(request: ChangeRequest, environment: Environment | None = None, governance: Governance | None = None, now: datetime | None = None) -> ChangeResult:
    """Low risk, from the pre-approved catalog, business hours; no approval at run time."""
    return govern(request, environment, governance, now, ChangeType.STANDARD)


@flow(name="normal-change", flow_run_name=change_run_name, on_crashed=[start_safety_net])
def normal_change(request: ChangeRequest, environment: Environment | None = None, governance: Governance | None = None, now: datetime | None = None) -> ChangeResult:
    """Medium risk or above; the change advisory board approves (quorum rises with risk); off-hours or maintenance."""
    return govern(request, environment, governance, now, ChangeType.NORMAL)


@flow(name="emergency-change", flow_run_name=change_run_name, on_crashed=[start_safety_net])
def emergency_change(request: ChangeRequest, environment: Environment | None = None, governance: Governance | None = None, now: datetime | None = None) -> ChangeResult:
    """High risk, one expedited approver, any time even in a freeze; review pending until the post-implementation review."""
    return govern(request, environment, governance, now, ChangeType.EMERGENCY)


CHANGE_FLOWS = {ChangeType.STANDARD: standard_change, ChangeType.NORMAL: normal_change, ChangeType.EMERGENCY: emergency_change}
