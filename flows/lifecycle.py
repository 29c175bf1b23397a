"""The governed change: request → assess → approve → schedule → checklist → execute → verify → close.

Three flows, one per change type, share this sequence; what differs (catalog, approvers, windows,
freeze override, review) comes from the type's policy. Execution and verification are the model
deployment and config change flows; rollback is their compensating subflow.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from changeflow.adapters.factory import record_store
from changeflow.approvals import run_name
from changeflow.domain.conflicts import window_conflicts
from changeflow.domain.plan import plan_change
from changeflow.domain.policy import WindowClass
from changeflow.domain.request import ChangeRequest
from changeflow.domain.types import ChangeType, State
from changeflow.domain.windows import NoSlot, window_at
from changeflow.environment import Environment
from changeflow.exceptions import ChangeflowError
from changeflow.governance import Governance
from changeflow.recorder import utc_now
from changeflow.results import ChangeResult
from changeflow.site import load_rules, load_site
from flows._support import open_request
from flows.approval_gate import approval_gate
from flows.execution import execute_scheduled
from tasks.assess import assess
from tasks.catalog import check_catalog
from tasks.schedule import schedule, wait_for_slot


def govern(
    request: ChangeRequest, environment: Environment | None, governance: Governance | None, now: datetime | None, change_type: ChangeType
) -> ChangeResult:
    """The governed sequence; ``environment`` / ``governance`` default to the site file and ``examples/`` rules."""
    if request.type is not change_type:
        raise ChangeflowError(f"{request.id} is a {request.type} change; run it with the {request.type}-change flow")
    environment, governance = load_site(environment), load_rules(governance)
    logger = get_run_logger()
    clock = now or utc_now()
    recorder = open_request(request, environment)

    history = [r for r in record_store(environment.records).list() if r.id != request.id]  # read once: risk and conflicts
    assessment = assess(recorder, environment, request, window_at(governance.calendar, clock), clock, history)
    recorder.transition(State.ASSESSED, f"risk {assessment.risk.value} (score {assessment.score})")
    plan = plan_change(request, assessment.risk, warnings=tuple(window_conflicts(request, history)))
    for warning in plan.warnings:
        logger.warning("conflict: %s", warning)

    if request.type is ChangeType.STANDARD:
        match = check_catalog(governance.catalog, request)
        if match.template is None:
            recorder.transition(State.REJECTED, match.reason)
            return ChangeResult.of(recorder.record)
        recorder.transition(State.APPROVED, f"pre-approved: {match.reason}")
    else:
        decided = approval_gate(recorder, request, plan, governance)
        counted = [a.approver for a in recorder.record.approvals if a.counted and a.decision == "approve"]
        reasons = {
            State.APPROVED: f"approved by {', '.join(counted)} ({plan.approvals_required} required)",
            State.REJECTED: f"rejected by {next((a.approver for a in reversed(recorder.record.approvals) if a.counted), '?')}: nothing was touched",
            State.EXPIRED: f"no valid decision within {governance.approval_timeout_s}s: nothing was touched",
        }
        recorder.transition(decided, reasons[decided])
        if decided is not State.APPROVED:
            return ChangeResult.of(recorder.record)

    slot = schedule(recorder, governance.calendar, request, assessment.risk, clock, governance.expected_duration_minutes)
    if isinstance(slot, NoSlot):
        recorder.transition(State.EXPIRED, f"cannot be scheduled: {slot.reason}")
        return ChangeResult.of(recorder.record)
    override = f"; {slot.freeze_override}" if slot.freeze_override else ""
    simulated = " (scheduling clock given: runs now as if the slot had opened)" if now is not None and slot.start > clock else ""
    handed_off = now is None and slot.window is WindowClass.PLANNED_MAINTENANCE and slot.start > clock
    later = " (the maintenance-window flow runs it when the window opens)" if handed_off else ""
    recorder.transition(State.SCHEDULED, f"{slot.window_name}: {slot.start.isoformat()} – {slot.end.isoformat()}{override}{simulated}{later}")
    if handed_off:
        return ChangeResult.of(recorder.record)
    if now is None:
        wait_for_slot(slot, clock)

    return execute_scheduled(recorder, request, environment, governance, plan, slot)


def _run_name() -> str:
    """``CHG-0042-normal-change``: how ``changeflow approve`` finds a paused change."""
    from prefect.runtime import flow_run

    request = flow_run.parameters["request"]
    change_id = request["id"] if isinstance(request, dict) else request.id
    return run_name(change_id, flow_run.flow_name)


@flow(name="standard-change", flow_run_name=_run_name)
def standard_change(
    request: ChangeRequest, environment: Environment | None = None, governance: Governance | None = None, now: datetime | None = None
) -> ChangeResult:
    """Low risk, from the pre-approved catalog, business hours; no approval at run time."""
    return govern(request, environment, governance, now, ChangeType.STANDARD)


@flow(name="normal-change", flow_run_name=_run_name)
def normal_change(
    request: ChangeRequest, environment: Environment | None = None, governance: Governance | None = None, now: datetime | None = None
) -> ChangeResult:
    """Medium risk or above; the change advisory board approves (quorum rises with risk); off-hours or maintenance."""
    return govern(request, environment, governance, now, ChangeType.NORMAL)


@flow(name="emergency-change", flow_run_name=_run_name)
def emergency_change(
    request: ChangeRequest, environment: Environment | None = None, governance: Governance | None = None, now: datetime | None = None
) -> ChangeResult:
    """High risk, one expedited approver, any time even in a freeze; review pending until the post-implementation review."""
    return govern(request, environment, governance, now, ChangeType.EMERGENCY)


CHANGE_FLOWS = {ChangeType.STANDARD: standard_change, ChangeType.NORMAL: normal_change, ChangeType.EMERGENCY: emergency_change}
